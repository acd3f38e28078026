// Writing to the outbox. Every chain transaction the market sends is queued here as a draft in
// the same database transaction as the state change that causes it (a task completing, a payout
// batch, a carried bundle), so nothing is sent for a change that rolled back and nothing a
// committed change asked for is lost. Drafts carry no nonce and no signature: seal() gives them
// the market's next nonces and signs them, in queue order, just before the courier sends them
// (docs/decisions.md: "Chain nonces at seal time"), which keeps secp256k1 signing and the nonce
// lock out of the result-commit transaction.

import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { batchPayouts, txHash } from '../domain/chain-tx.js';
import { bidDedupKey } from '../domain/bid-commit.js';
import { unixSeconds, type Clock } from '../domain/clock.js';
import {
  bundleDedupKey,
  draftKind,
  gapDedupKey,
  MAX_RESULTS_PER_TX,
  payoutDedupKey,
  resultBatchDedupKey,
  resultDedupKey,
  sealDraft,
  type OutboxDraft,
} from '../domain/courier.js';
import { SYSTEM_ACCOUNTS, type Posting } from '../domain/ledger.js';
import { MAX_AMOUNT } from '../domain/money.js';
import { largeBaseTable, SigningKey } from '../domain/signing-key.js';
import type { Db, Queryable } from '../store/db.js';
import { appendJournals } from '../store/ledger.js';
import {
  countGapFills,
  getOutboxByKey,
  insertDrafts,
  liveAtNonce,
  releaseFailedNonce,
  lockNextNonce,
  lowestUntriedNonce,
  sealRows,
  setNextNonce,
  unsealedPage,
  unsealUntried,
  type NewOutboxRow,
  type OutboxRow,
} from '../store/outbox.js';
import type { ChainAccount } from '../chain/port.js';
import { claimPayoutTotals, insertPayouts, type PayoutRow } from '../store/payouts.js';
import { providerAccounts } from '../store/settlement.js';
import { encodeTx } from '../chain/wire.js';
import { failEntry } from './outbox-failure.js';

/** The asset TRANSFERs move: the chain's own coin. Payouts in other assets stay on the books. */
export const PAYOUT_ASSET = 'CPC';

/**
 * Sealing signs on the event loop (about 1 ms a SUBMIT_RESULT on the dev box, a page of 500 in
 * half a second): it gives the loop a turn after this much signing, so requests are not held up.
 */
const SEAL_SLICE_MS = 10;

/** A completed task's result as its SUBMIT_RESULT carries it: its jobs' hashes in plan order. */
export interface TaskResult {
  task_id: string;
  result_hash: string;
  worker_address: string;
  job_hashes: string[];
}

export class OutboxWriter {
  /** The market's chain address: the sender of everything it seals. */
  readonly sender: string;
  /**
   * Calls that queued outbox entries (some may have rolled back), and plans whose drafts were
   * committed elsewhere (`drafted`): the courier's "anything new?".
   */
  queued = 0;
  private readonly key: SigningKey;

  constructor(
    privateKey: string,
    private readonly clock: Clock,
  ) {
    // Sealing is secp256k1 signing, two signatures per SUBMIT_RESULT: a wider base-point table
    // makes each cheaper, and the key's public half and address are derived here once, not per tx.
    largeBaseTable();
    this.key = new SigningKey(privateKey);
    this.sender = this.key.address;
  }

  /**
   * Queues the SUBMIT_RESULT of a settlement batch: one chain transaction for all these completed
   * tasks (up to MAX_RESULTS_PER_TX each; a batch of one keeps the one-task form, `result:<id>`).
   * The caller gives each task once, ever (settlement queues only tasks it charged receipts for
   * the first time); a replay of the same batch adds nothing (its key is its task ids' hash).
   */
  async queueResults(tx: Queryable, results: readonly TaskResult[]): Promise<number> {
    this.queued++;
    return insertDrafts(tx, this.resultDrafts(results), this.clock.nowMs());
  }

  /** Drafts planned with `resultDrafts` were committed by another statement (the one-round-trip commit). */
  drafted(): void {
    this.queued++;
  }

  /** The drafts queueResults queues for these tasks (also planned ahead: SettlementService.planAlone). */
  resultDrafts(results: readonly TaskResult[]): NewOutboxRow[] {
    if (results.length === 1) {
      const r = results[0] as TaskResult;
      return rows([{ key: resultDedupKey(r.task_id), draft: { type: 'task_result', ...r } }]);
    }
    const items: { key: string; draft: OutboxDraft }[] = [];
    for (let i = 0; i < results.length; i += MAX_RESULTS_PER_TX) {
      const tasks = results.slice(i, i + MAX_RESULTS_PER_TX).map((r) => ({
        task_id: r.task_id,
        worker_address: r.worker_address,
        result_hash: r.result_hash,
        job_hashes: r.job_hashes,
      }));
      items.push({
        key: resultBatchDedupKey(tasks.map((t) => t.task_id)),
        draft: { type: 'result_batch', tasks },
      });
    }
    return rows(items);
  }

  /** Queues a carried bundle's receipt (spec "Courier Mode"); a second send of it changes nothing. */
  async queueBundle(db: Db, bundleHash: string, sender: string): Promise<OutboxRow> {
    const key = bundleDedupKey(bundleHash, sender);
    await this.queue(db, [{ key, draft: { type: 'bundle', bundle_hash: bundleHash, sender } }]);
    return (await getOutboxByKey(db, key)) as OutboxRow;
  }

  /** Queues a bid's BidTx (a zero-amount TRANSFER to the market carrying the commitment), once per bid. */
  async queueBid(tx: Queryable, bidId: string, commitment: string): Promise<number> {
    return this.queue(tx, [
      { key: bidDedupKey(bidId), draft: { type: 'bid_commit', bid_id: bidId, commitment } },
    ]);
  }

  /**
   * Records the worker shares of receipts settled in Real mode, for the next payout flush. Only
   * shares in the chain's coin (CPC) go out as TRANSFERs; others stay on the providers' accounts.
   */
  async queuePayouts(tx: Queryable, rows: readonly PayoutRow[]): Promise<void> {
    await insertPayouts(tx, this.payoutRows(rows), this.clock.nowMs());
  }

  /** The payouts queuePayouts records of these: those in the chain's coin. */
  payoutRows(rows: readonly PayoutRow[]): PayoutRow[] {
    return rows.filter((r) => r.asset === PAYOUT_ASSET);
  }

  /**
   * One payout flush: up to `limit` waiting payouts become one TRANSFER per provider (batchPayouts
   * over the totals the database sums per address) and leave the providers' balances for
   * `paid_out`, all in one transaction. Returns how many payouts it claimed and TRANSFERs queued.
   */
  async flushPayouts(db: Db, limit: number): Promise<{ claimed: number; transfers: number }> {
    return db.transaction(async (tx) => {
      const batchId = randomUUID();
      const now = this.clock.nowMs();
      // Rejected totals (an address the chain cannot take) are claimed too, so they are not
      // claimed again every flush; their money stays on the provider's balance.
      const totals = await claimPayoutTotals(tx, PAYOUT_ASSET, limit, batchId, now);
      if (totals.length === 0) return { claimed: 0, transfers: 0 };
      const plan = batchPayouts(
        totals.map((p) => ({ address: p.address, amount: BigInt(p.amount) })),
        MAX_AMOUNT,
      );
      const transfers = await this.queue(
        tx,
        plan.transfers.map((t, n) => ({
          key: payoutDedupKey(batchId, n),
          draft: { type: 'transfer', to: t.to, amount: t.amount.toString() },
        })),
      );
      const accounts = await providerAccounts(
        tx,
        plan.transfers.map((t) => t.to),
        PAYOUT_ASSET,
        now,
      );
      const postings: Posting[] = plan.transfers.flatMap((t) => [
        { accountId: accounts.get(t.to) as string, asset: PAYOUT_ASSET, amount: -t.amount },
        { accountId: SYSTEM_ACCOUNTS.paid_out, asset: PAYOUT_ASSET, amount: t.amount },
      ]);
      if (postings.length > 0)
        await appendJournals(tx, [{ journalId: batchId, kind: 'payout', ref: batchId, postings }], now);
      return { claimed: totals.reduce((n, t) => n + t.payouts, 0), transfers };
    });
  }

  /**
   * Gives up to `limit` drafts, oldest first, the next nonces and signs them, in one transaction
   * holding the nonce row: nonces follow queue order with no gaps. A draft that cannot be signed
   * (a malformed field) is marked failed without taking a nonce. Returns how many drafts it took.
   * Signing is on this thread (a worker pool measured no faster on the 2-core dev box), in slices.
   */
  async seal(db: Db, limit: number): Promise<number> {
    return db.transaction(async (tx) => {
      const next = await lockNextNonce(tx, this.sender);
      const drafts = await unsealedPage(tx, limit);
      const timestamp = unixSeconds(this.clock);
      const sealed = [];
      let slice = performance.now();
      for (const entry of drafts) {
        if (performance.now() - slice >= SEAL_SLICE_MS) {
          await nextTurn();
          slice = performance.now();
        }
        const { id, draft } = entry;
        let body: string;
        let hash: string;
        try {
          const signed = sealDraft(draft, next + sealed.length, this.key, timestamp);
          body = encodeTx(signed);
          hash = txHash(signed);
        } catch (err) {
          await failEntry(tx, entry, 0, `cannot sign: ${(err as Error).message}`, this.clock);
          continue;
        }
        sealed.push({ id, sender: this.sender, nonce: next + sealed.length, body, tx_hash: hash });
      }
      const n = await sealRows(tx, sealed);
      // A row not updated would leave a nonce gap that stalls every later transaction.
      if (n !== sealed.length) throw new Error('outbox: a draft was sealed twice');
      await setNextNonce(tx, this.sender, next + n);
      return drafts.length;
    });
  }

  /**
   * Takes the node's word for the next nonce (read at start and after every refusal): the local
   * sequence never goes below what the node has seen (its pending nonce). Sealed entries never
   * sent (no write-ahead mark) at nonces the node has seen are drafts again, sealed at fresh ones;
   * an entry that may have been sent keeps its seal, since the node may hold those very bytes.
   */
  async syncNonce(db: Db, account: ChainAccount): Promise<{ next: number; unsealed: number }> {
    return db.transaction(async (tx) => {
      const local = await lockNextNonce(tx, this.sender);
      const seen = Math.max(account.nonce, account.pendingNonce);
      const low = await lowestUntriedNonce(tx, this.sender);
      let next = Math.max(local, seen);
      let unsealed = 0;
      if (low !== undefined && seen > low) {
        const r = await unsealUntried(tx, this.sender);
        unsealed = r.unsealed;
        next = Math.max(r.afterTried, seen);
      }
      if (next !== local) await setNextNonce(tx, this.sender, next);
      return { next, unsealed };
    });
  }

  /**
   * Seals a nonce filler at `nonce` (a gap the chain waits on, domain/courier.ts "gap_fill") if no
   * entry but a failed one holds it, in one transaction holding the nonce row; the failed entry
   * gives its nonce up. Returns false when something else holds the nonce now.
   */
  async fillGap(db: Db, nonce: number): Promise<boolean> {
    return db.transaction(async (tx) => {
      await lockNextNonce(tx, this.sender);
      if (await liveAtNonce(tx, this.sender, nonce)) return false;
      const key = gapDedupKey(this.sender, nonce, await countGapFills(tx, this.sender, nonce));
      const draft: OutboxDraft = { type: 'gap_fill', nonce };
      await insertDrafts(tx, [{ kind: draftKind(draft), dedup_key: key, draft }], this.clock.nowMs());
      const row = (await getOutboxByKey(tx, key)) as OutboxRow;
      await releaseFailedNonce(tx, this.sender, nonce, `; its nonce ${nonce} went to the filler ${key}`);
      const signed = sealDraft(draft, nonce, this.key, unixSeconds(this.clock));
      const sealed = await sealRows(tx, [
        { id: row.id, sender: this.sender, nonce, body: encodeTx(signed), tx_hash: txHash(signed) },
      ]);
      if (sealed !== 1) throw new Error('outbox: a nonce filler was not sealed');
      return true;
    });
  }

  private async queue(q: Queryable, items: readonly { key: string; draft: OutboxDraft }[]): Promise<number> {
    this.queued++;
    return insertDrafts(q, rows(items), this.clock.nowMs());
  }
}

function rows(items: readonly { key: string; draft: OutboxDraft }[]): NewOutboxRow[] {
  return items.map((i) => ({ kind: draftKind(i.draft), dedup_key: i.key, draft: i.draft }));
}
