// The courier: delivers the outbox to the chain and follows each entry until a block holds it
// and enough blocks follow (domain/courier.ts draws the states). One flush:
//   1. track: read the sender's account, then the head; if a block the courier read was
//      replaced (the next block's prev_hash or the head no longer matches the hashes kept in
//      chain_seen_blocks), go back to the fork: entries included or final above it go to
//      checking (reason reorg) and the blocks are read again; then read every block not read yet
//      (the chain_cursor), marking our transactions found there included; included entries with
//      `confirmations` blocks on top become final (their block is read again: gone means a
//      reorganisation, and they are sent again). Entries under check, and sent ones the node's
//      pool should have dropped (older than its TTL), are then settled by checkVerdict.
//      A nonce the chain waits on that no outbox entry can fill any more (refused for good after
//      later ones were sent) gets a filler: 1 base unit to the market itself, sealed there.
//   2. nonces: at start and after every refusal, the node's account sets the next nonce
//      (OutboxWriter.syncNonce); a nonce the node has seen is never given to another entry.
//   3. seal the queued drafts, then walk sealed pending entries in nonce order a page at a time
//      (keyset paging), marking each page write-ahead (first_sent_at_ms) before sending, and sending
//      each signed transaction exactly as stored:
//        the pool took it (or has it) → sent;
//        retryable failure (down, timeout, busy, queued_limit_exceeded) → backoff, flush stops;
//        an answer that may mean "already included" → checking (never reversed);
//        refused as invalid → failed, its TRANSFER given back, its nonce freed when nothing
//        later was sent and the node does not hold it (outbox-failure.ts).
// The flush stops at the first entry that must wait: the node takes a sender's nonces only in
// sequence. A forced flush (the operator's) ignores next_attempt_at_ms.

import type { Logger } from 'pino';
import {
  ChainError,
  type ChainAccount,
  type ChainBlock,
  type ChainHead,
  type ChainPort,
  type SubmitOutcome,
} from '../chain/port.js';
import { decodeTx } from '../chain/wire.js';
import { txHash } from '../domain/chain-tx.js';
import type { Clock } from '../domain/clock.js';
import { checkVerdict, courierBackoffMs, type CheckReason } from '../domain/courier.js';
import type { Db } from '../store/db.js';
import {
  failedAmong,
  getCursor,
  includedUpTo,
  liveAtNonce,
  lowestOpenSentHeight,
  markChecking,
  markFinal,
  markHeld,
  markIncluded,
  markResend,
  markRetry,
  markSent,
  markTried,
  markUnincluded,
  pendingPage,
  rememberBlocks,
  rewindFrom,
  seenBlocks,
  setCursor,
  unmarkTried,
  unsettledPage,
  waitingAbove,
  type ChainCursor,
  type SealedOutboxRow,
} from '../store/outbox.js';
import { failEntryNow, type FailOutcome } from './outbox-failure.js';
import type { MarketEventBus } from './events.js';

export interface CourierOptions {
  db: Db;
  chain: ChainPort;
  clock: Clock;
  events: MarketEventBus;
  logger: Logger;
  /** The market's chain address: the sender of every sealed entry. */
  sender: string;
  /** Seals up to `limit` drafts; returns how many it took (0: none left). */
  seal: (limit: number) => Promise<number>;
  /** Raises the local nonce sequence to the node's (OutboxWriter.syncNonce). */
  syncNonce: (account: ChainAccount) => Promise<unknown>;
  /** Seals a nonce filler at a gap (OutboxWriter.fillGap); none: gaps are left to the operator. */
  fillGap?: (nonce: number) => Promise<boolean>;
  /** Rows per page. */
  batch: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Blocks on top of an entry's block before it is final (0: final when included). */
  confirmations: number;
  /** The node's pool time-to-live: a sent entry older than this is looked for, and sent again if absent. */
  txTtlMs: number;
  /** The most blocks one flush reads (the rest wait for the next). */
  scanBlocks?: number;
  /** Jitter source, uniform in [0, 1) (seeded in tests); none: exact doubling. */
  random?: () => number;
}

export interface FlushReport {
  /** Transactions sent to the chain. */
  attempted: number;
  /** Taken into the node's pool (or already there). */
  sent: number;
  /** Sent and failed retryably: they wait for their next attempt. */
  retrying: number;
  /** Refused for good (proven not on chain). */
  failed: number;
  /** Answers that may mean "already included", now being looked for. */
  checking: number;
  /** Found in a block this flush. */
  included: number;
  /** Became final this flush. */
  final: number;
  /** Held for the operator this flush. */
  held: number;
  /** Entries whose block a reorganisation replaced this flush (looked for again). */
  reorged: number;
  /** Nonce gaps the chain waited on that a filler was sealed for this flush. */
  gaps_filled: number;
  /** True when the flush stopped at a row that has to wait, leaving later rows pending. */
  stopped: boolean;
}

type Sent =
  | { state: 'sent' }
  | { state: 'checking' }
  | { state: 'retrying' }
  /** rewound: the row's nonce was freed and the sender's later rows are drafts again. */
  | { state: 'failed'; rewound: boolean };

/** Blocks whose hashes the courier remembers, to find where a reorganisation forked. */
const SEEN_BLOCKS = 256;

/** Refusals the node gives for the bytes themselves: the same transaction can never pass. */
const INVALID =
  /^(rejected: )?(invalid_|pub_key_mismatch|crypto_error|missing_sig_or_key|unknown_tx_type|gas_too_low|fee_too_low|gas_price |gas_limit |fee )/;

export class Courier {
  private tail: Promise<unknown> = Promise.resolve();
  /** Read the node's account before sealing: at start, and after every refusal. */
  private nonceStale = true;

  constructor(private readonly opts: CourierOptions) {}

  /** Delivers what is due (everything pending when `force`); flushes run one at a time. */
  flush(options: { force?: boolean } = {}): Promise<FlushReport> {
    const run = this.tail.then(() => this.run(options.force ?? false));
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Resolves when the flush in progress (if any) has finished. */
  async idle(): Promise<void> {
    await this.tail;
  }

  private async run(force: boolean): Promise<FlushReport> {
    const report: FlushReport = {
      attempted: 0,
      sent: 0,
      retrying: 0,
      failed: 0,
      checking: 0,
      included: 0,
      final: 0,
      held: 0,
      reorged: 0,
      gaps_filled: 0,
      stopped: false,
    };
    let scanFrom: number | null = null;
    try {
      scanFrom = await this.track(report);
    } catch (err) {
      if (!(err instanceof ChainError)) throw err;
      this.opts.logger.warn({ err: err.message }, 'courier: cannot read the chain now; sending anyway');
    }
    if (this.nonceStale && !(await this.syncNonce())) {
      // Without the node's nonce nothing new is sealed; entries sealed before may still go.
      report.stopped = true;
    } else await this.sealAll();
    await this.deliver(force, scanFrom, report);
    return report;
  }

  private async sealAll(): Promise<void> {
    while ((await this.opts.seal(this.opts.batch)) > 0);
  }

  /** Reads the node's account and raises the local nonce to it; false when the node cannot say. */
  private async syncNonce(): Promise<boolean> {
    try {
      const account = await this.opts.chain.account(this.opts.sender);
      await this.opts.syncNonce(account);
      this.nonceStale = false;
      return true;
    } catch (err) {
      if (!(err instanceof ChainError)) throw err;
      return false;
    }
  }

  // ─── delivery ───────────────────────────────────────────────────────────────────────────────

  private async deliver(force: boolean, scanFrom: number | null, report: FlushReport): Promise<void> {
    const { db, batch, clock } = this.opts;
    let after: { sender: string; nonce: number } | undefined;
    for (;;) {
      const { rows: page, more } = await pendingPage(db, after, batch);
      if (page.length === 0) return;
      // Write-ahead: once marked, an entry's nonce is never given to another (the node may have it).
      const marked = new Set(
        await markTried(
          db,
          page.map((r) => r.id),
          clock.nowMs(),
          scanFrom,
        ),
      );
      const sent: { id: number; tx_hash: string }[] = [];
      const unsentMarked = new Set(marked);
      let rewound = false;
      let stop = false;
      try {
        for (const row of page) {
          after = { sender: row.sender, nonce: row.nonce };
          if (!force && row.next_attempt_at_ms > clock.nowMs()) {
            stop = true;
            break;
          }
          unsentMarked.delete(row.id);
          const result = await this.send(row, marked.has(row.id) && row.attempts === 0, () => {
            // A refusal for good at this nonce may rewind: rows of this page not sent yet lose
            // their write-ahead mark first, or the rewind would think them sent.
            const ids = [...unsentMarked];
            unsentMarked.clear();
            return unmarkTried(db, ids);
          });
          report.attempted++;
          if (result.state === 'sent') {
            sent.push({ id: row.id, tx_hash: row.tx_hash });
            report.sent++;
          } else if (result.state === 'checking') report.checking++;
          else if (result.state === 'failed') {
            report.failed++;
            if (result.rewound) {
              // The rest of this page holds seals that were taken back: seal again, and go on
              // from the freed nonce.
              after = { sender: row.sender, nonce: row.nonce - 1 };
              rewound = true;
              break;
            }
          } else {
            report.retrying++;
            stop = true;
            break;
          }
        }
      } finally {
        // One statement per page: a crash before it leaves these rows pending (and marked), so
        // they are sent again, which the node answers already_in_pool or nonce_too_low: both
        // are looked for in blocks, never taken as a refusal.
        await markSent(db, sent, clock.nowMs());
        await unmarkTried(db, [...unsentMarked]);
      }
      if (stop) {
        report.stopped = true;
        return;
      }
      if (rewound) {
        if (this.nonceStale) await this.syncNonce();
        await this.sealAll();
      } else if (!more) return;
    }
  }

  private async send(
    row: SealedOutboxRow,
    firstSend: boolean,
    beforeRewind: () => Promise<void>,
  ): Promise<Sent> {
    const { db, chain, clock, events } = this.opts;
    const attempts = row.attempts + 1;
    let decoded;
    try {
      decoded = decodeTx(JSON.parse(row.body));
    } catch (err) {
      decoded = { ok: false as const, error: (err as Error).message };
    }
    events.emit('courier.attempt', { kind: row.kind });
    if (!decoded.ok) {
      // Unreadable bytes were never accepted by anyone: nothing of them can be on chain.
      events.emit('courier.failure', { kind: row.kind, retryable: false });
      await beforeRewind();
      const failed = await failEntryNow(
        db,
        row,
        attempts,
        `unreadable outbox body: ${decoded.error}`,
        clock,
        firstSend,
      );
      this.logFailure(row, failed, decoded.error, 'outbox entry unreadable: marked failed');
      return { state: 'failed', rewound: failed.rewound };
    }
    const outcome: SubmitOutcome = await chain.submit(decoded.tx).catch((err: unknown) => ({
      accepted: false as const,
      retryable: true,
      error: err instanceof Error ? err.message : String(err),
    }));
    if (outcome.accepted) {
      events.emit('courier.acknowledged', {
        kind: row.kind,
        txHash: row.tx_hash,
        duplicate: outcome.duplicate ?? false,
      });
      return { state: 'sent' };
    }
    events.emit('courier.failure', { kind: row.kind, retryable: outcome.retryable });
    if (outcome.retryable) {
      const delay = courierBackoffMs(
        attempts,
        this.opts.backoffBaseMs,
        this.opts.backoffMaxMs,
        this.opts.random,
      );
      await markRetry(db, row.id, row.tx_hash, attempts, clock.nowMs() + delay, outcome.error);
      this.opts.logger.warn(
        { id: row.id, attempts, delay, error: outcome.error },
        'chain send failed: backing off',
      );
      return { state: 'retrying' };
    }
    this.nonceStale = true;
    if (outcome.mayBeIncluded || !INVALID.test(outcome.error)) {
      // It may be on chain already (or in the pool): look for it, never undo it.
      await markChecking(db, row.id, row.tx_hash, attempts, checkReasonOf(outcome.error), outcome.error);
      this.opts.logger.warn(
        { id: row.id, nonce: row.nonce, error: outcome.error },
        'chain answer may mean the transaction is already in: looking for it in the blocks',
      );
      return { state: 'checking' };
    }
    // Refused for the bytes themselves. Its nonce is free to give again only if the node
    // neither used nor pools it (read now) and this was the entry's first send.
    let nonceFree = false;
    try {
      const account = await chain.account(this.opts.sender);
      nonceFree = firstSend && account.pendingNonce <= row.nonce && account.nonce <= row.nonce;
    } catch (err) {
      if (!(err instanceof ChainError)) throw err;
    }
    await beforeRewind();
    const failed = await failEntryNow(db, row, attempts, outcome.error, clock, nonceFree);
    this.logFailure(row, failed, outcome.error, 'chain refused a transaction');
    return { state: 'failed', rewound: failed.rewound };
  }

  private logFailure(row: SealedOutboxRow, failed: FailOutcome, error: string, message: string): void {
    const at = { id: row.id, kind: row.kind, sender: row.sender, nonce: row.nonce, error };
    if (failed.rewound) this.opts.logger.error(at, `${message}; its nonce goes to the next entry`);
    else if (failed.failed)
      // A later entry was (or may have been) sent already, so the nonce could not be given
      // again: the node will queue everything after it until an operator fills the gap.
      this.opts.logger.error(at, `${message}; nonce gap left: a later entry may have been sent`);
  }

  // ─── tracking ───────────────────────────────────────────────────────────────────────────────

  /**
   * Reads the chain: blocks since the cursor, finality, and entries under check. Returns the
   * height the next block will have (the lowest block a transaction sent now can land in).
   * Throws ChainError when the chain cannot be read.
   */
  private async track(report: FlushReport): Promise<number> {
    const { db, chain, sender } = this.opts;
    // The account first, then the head: a nonce the account shows used is in a block up to that head.
    const account = await chain.account(sender);
    const head = await chain.head();
    let cursor = await getCursor(db, sender);
    if (!cursor) {
      const open = await lowestOpenSentHeight(db, sender);
      const origin = open.unknown ? 0 : Math.min(open.lowest ?? head.height, head.height);
      cursor = { next_height: origin, origin_height: origin };
      await setCursor(db, sender, cursor);
    }
    const blocks = new Map<number, ChainBlock>();
    const fork = await this.findFork(head, blocks);
    if (fork !== undefined && fork < cursor.next_height) {
      const { moved, wereFinal } = await rewindFrom(db, sender, fork);
      cursor = { ...cursor, next_height: fork };
      await setCursor(db, sender, cursor);
      report.reorged += moved;
      const at = { height: fork, entries: moved, final: wereFinal };
      if (wereFinal > 0)
        this.opts.logger.error(at, 'a reorganisation deeper than chain_confirmations replaced final entries');
      else this.opts.logger.warn(at, 'blocks the courier read were replaced: reading again from the fork');
    }
    const limit = this.opts.scanBlocks ?? 1000;
    const last = Math.min(head.height, cursor.next_height + limit - 1);
    const found: { tx_hash: string; height: number; block_hash: string }[] = [];
    const seen: { height: number; hash: string }[] = [];
    for (let h = cursor.next_height; h <= last; h++) {
      const block = blocks.get(h) ?? (await chain.getBlock(h));
      if (!block) break;
      blocks.set(h, block);
      for (const tx of block.txs) {
        if (tx.from_address !== sender) continue;
        found.push({ tx_hash: txHash(tx), height: h, block_hash: block.hash });
      }
      for (const raw of block.other_txs) {
        if ((raw as { from_address?: unknown } | null)?.from_address === sender)
          this.opts.logger.error(
            { height: h, nonce: (raw as { nonce?: unknown }).nonce },
            'a block holds a transaction of the market sender that the market cannot read',
          );
      }
      seen.push({ height: h, hash: block.hash });
      cursor = { ...cursor, next_height: h + 1 };
    }
    if (found.length > 0) {
      report.included += await markIncluded(db, found);
      for (const f of await failedAmong(
        db,
        found.map((x) => x.tx_hash),
      ))
        this.opts.logger.error(
          { id: f.id, nonce: f.nonce, tx_hash: f.tx_hash },
          'a block holds an outbox entry that was marked failed: check its payout by hand',
        );
    }
    await rememberBlocks(db, sender, seen, SEEN_BLOCKS);
    await setCursor(db, sender, cursor);
    await this.finalize(head.height, blocks, report);
    const scanned = cursor.next_height > head.height;
    await this.settleUnsure(account, cursor, scanned, report);
    await this.fillGap(account, report);
    return cursor.next_height;
  }

  /**
   * The lowest height whose block is no longer the one this courier read (a reorganisation), or
   * undefined when nothing changed. Cheap when nothing did: the next block's prev_hash (read
   * anyway by the scan), or the head's hash, against the last block read.
   */
  private async findFork(head: ChainHead, blocks: Map<number, ChainBlock>): Promise<number | undefined> {
    const { db, chain, sender } = this.opts;
    const seen = await seenBlocks(db, sender, SEEN_BLOCKS);
    const top = seen[0];
    if (!top) return undefined;
    if (head.height === top.height && head.hash === top.hash) return undefined;
    if (head.height > top.height) {
      const next = await chain.getBlock(top.height + 1);
      if (next) {
        blocks.set(top.height + 1, next);
        if (next.header.prev_hash === top.hash) return undefined;
      }
    }
    // Something changed: walk down the blocks read until one is still there.
    for (const s of seen) {
      if (s.height > head.height) continue;
      const block = await chain.getBlock(s.height);
      if (block && block.hash === s.hash) return s.height + 1;
    }
    // Deeper than the blocks remembered: read again from the oldest of them.
    const oldest = seen[seen.length - 1] as { height: number };
    this.opts.logger.error(
      { from: oldest.height },
      'a reorganisation deeper than the blocks remembered: reading again from the oldest',
    );
    return oldest.height;
  }

  private async finalize(
    headHeight: number,
    blocks: Map<number, ChainBlock>,
    report: FlushReport,
  ): Promise<void> {
    const { db, chain, clock, sender } = this.opts;
    const rows = await includedUpTo(db, sender, headHeight - this.opts.confirmations);
    if (rows.length === 0) return;
    const final: number[] = [];
    const gone: number[] = [];
    for (const row of rows) {
      const h = row.height as number;
      let block = blocks.get(h);
      if (!block) {
        block = await chain.getBlock(h);
        if (block) blocks.set(h, block);
      }
      if (block && block.hash === row.block_hash) final.push(row.id);
      else gone.push(row.id);
    }
    await markFinal(db, final, clock.nowMs());
    report.final += final.length;
    if (gone.length > 0) {
      // Not where it was seen: a reorganisation. Wait for a block again and read from there.
      await markUnincluded(db, gone);
      const low = Math.min(...rows.filter((r) => gone.includes(r.id)).map((r) => r.height as number));
      const cursor = await getCursor(db, sender);
      if (cursor && cursor.next_height > low) await setCursor(db, sender, { ...cursor, next_height: low });
      this.opts.logger.warn({ entries: gone.length, height: low }, 'blocks that held outbox entries changed');
    }
  }

  /**
   * A nonce gap: the chain waits on the account nonce (nothing pooled there), entries of ours
   * above it wait behind it, and no entry of the outbox can fill it any more (the one sealed there
   * failed after later ones were sent). A filler is sealed there (1 base unit to the market
   * itself), delivered first, and the waiting entries follow it into a block.
   */
  private async fillGap(account: ChainAccount, report: FlushReport): Promise<void> {
    const { db, sender, fillGap } = this.opts;
    const at = account.nonce;
    if (!fillGap || account.pendingNonce !== at) return;
    if (await liveAtNonce(db, sender, at)) return;
    if (!(await waitingAbove(db, sender, at))) return;
    if (!(await fillGap(at))) return;
    report.gaps_filled++;
    this.opts.logger.warn(
      { nonce: at },
      'the chain waited on a nonce no outbox entry fills: sealed a filler there',
    );
  }

  /** Entries under check, and sent ones past the node's pool TTL: what the chain says of each. */
  private async settleUnsure(
    account: ChainAccount,
    cursor: ChainCursor,
    scanned: boolean,
    report: FlushReport,
  ): Promise<void> {
    const { db, clock, sender } = this.opts;
    const now = clock.nowMs();
    const rows = await unsettledPage(db, sender, now - this.opts.txTtlMs, this.opts.batch);
    for (const row of rows) {
      const reason: CheckReason = row.status === 'sent' ? 'expired' : (row.check_reason ?? 'unknown');
      const verdict = checkVerdict({
        nonce: row.nonce,
        reason,
        accountNonce: account.nonce,
        pendingNonce: account.pendingNonce,
      });
      if (verdict.to === 'sent') {
        if (row.status === 'checking') await markSent(db, [{ id: row.id, tx_hash: row.tx_hash }], now);
        continue;
      }
      if (verdict.to === 'checking') {
        if (row.status === 'sent')
          await markChecking(
            db,
            row.id,
            row.tx_hash,
            row.attempts,
            reason,
            'past the pool TTL: looking for it',
          );
        continue;
      }
      if (verdict.to === 'held') {
        // Only when every block since it was first sent was read: otherwise read on first.
        const covered =
          scanned &&
          (cursor.origin_height === 0 ||
            (row.sent_height !== null && row.sent_height >= cursor.origin_height));
        if (!covered) continue;
        if (row.status === 'sent')
          await markChecking(db, row.id, row.tx_hash, row.attempts, reason, verdict.why);
        await markHeld(db, row.id, row.tx_hash, verdict.why);
        report.held++;
        this.opts.logger.error(
          { id: row.id, nonce: row.nonce, why: verdict.why },
          'outbox entry held for the operator',
        );
        continue;
      }
      if (verdict.to === 'pending') {
        const delay = courierBackoffMs(
          Math.max(row.attempts, 1),
          this.opts.backoffBaseMs,
          this.opts.backoffMaxMs,
          this.opts.random,
        );
        await markResend(
          db,
          row.id,
          row.tx_hash,
          now + (reason === 'expired' || reason === 'nonce_too_low' || reason === 'reorg' ? 0 : delay),
          `${row.last_error ?? reason}; not in any block nor the pool, nonce ${row.nonce} free: sending it again`,
        );
        continue;
      }
      // failed: refused with a 400 and proven absent, its nonce free.
      if (row.status === 'sent') continue;
      const failed = await failEntryNow(
        db,
        row,
        row.attempts,
        `${row.last_error ?? 'refused'}; proven not on chain`,
        clock,
        true,
      );
      if (failed.failed) report.failed++;
      this.nonceStale = true;
    }
  }
}

function checkReasonOf(error: string): CheckReason {
  if (/nonce_too_low/.test(error)) return 'nonce_too_low';
  if (/insufficient_balance/.test(error)) return 'insufficient_balance';
  if (/HTTP 400/.test(error)) return 'bad_request';
  return 'unknown';
}
