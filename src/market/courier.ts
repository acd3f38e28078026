// The courier: delivers the outbox to the chain, at least once. It first seals queued drafts
// (nonce and signature, OutboxWriter.seal), then walks sealed pending rows in nonce order a page
// at a time (keyset paging, so memory stays flat however long the queue), sends each signed
// transaction exactly as stored, and records the chain's answer:
//   accepted (a duplicate too: the chain already has this hash) → acknowledged;
//   retryable failure → attempts + 1, next_attempt_at = now + backoff, and the flush stops;
//   non-retryable failure → failed, with the error kept for the operator.
// The flush stops at the first row that must wait (backing off, or a retryable failure) because
// the CPC node takes a sender's nonces only in sequence: sending n+1 before n would only earn a
// rejection. For the same reason a refusal for good at nonce n frees n (failEntry): the sender's
// later rows, not sent yet, become drafts again, and the flush seals them at n, n+1, … and walks
// on from n. A forced flush (the operator's) ignores next_attempt_at.

import type { Logger } from 'pino';
import type { ChainPort } from '../chain/port.js';
import { decodeTx } from '../chain/wire.js';
import type { Clock } from '../domain/clock.js';
import { courierBackoffMs } from '../domain/courier.js';
import type { Db } from '../store/db.js';
import { markAcknowledged, markRetry, pendingPage, type SealedOutboxRow } from '../store/outbox.js';
import { failEntryNow, type FailOutcome } from './outbox-failure.js';
import type { MarketEventBus } from './events.js';

export interface CourierOptions {
  db: Db;
  chain: ChainPort;
  clock: Clock;
  events: MarketEventBus;
  logger: Logger;
  /** Seals up to `limit` drafts; returns how many it took (0: none left). */
  seal: (limit: number) => Promise<number>;
  /** Rows per page. */
  batch: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Jitter source, uniform in [0, 1) (seeded in tests); none: exact doubling. */
  random?: () => number;
}

export interface FlushReport {
  /** Transactions sent to the chain. */
  attempted: number;
  acknowledged: number;
  /** Sent and failed retryably: they wait for their next attempt. */
  retrying: number;
  /** Sent and refused for good. */
  failed: number;
  /** True when the flush stopped at a row that has to wait, leaving later rows pending. */
  stopped: boolean;
}

type Sent =
  | { state: 'acknowledged'; height: number | null }
  | { state: 'retrying' }
  /** rewound: the row's nonce was freed and the sender's later rows are drafts again. */
  | { state: 'failed'; rewound: boolean };

export class Courier {
  private tail: Promise<unknown> = Promise.resolve();

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
    const { db, batch } = this.opts;
    const report: FlushReport = { attempted: 0, acknowledged: 0, retrying: 0, failed: 0, stopped: false };
    const sealAll = async () => {
      while ((await this.opts.seal(batch)) > 0);
    };
    await sealAll();
    let after: { sender: string; nonce: number } | undefined;
    for (;;) {
      const page = await pendingPage(db, after, batch);
      const acks: { id: number; tx_hash: string; height: number | null }[] = [];
      let rewound = false;
      try {
        for (const row of page) {
          after = { sender: row.sender, nonce: row.nonce };
          if (!force && row.next_attempt_at > this.opts.clock.nowMs()) {
            report.stopped = true;
            return report;
          }
          const sent = await this.send(row);
          report.attempted++;
          if (sent.state === 'acknowledged') {
            acks.push({ id: row.id, tx_hash: row.tx_hash, height: sent.height });
            report.acknowledged++;
          } else if (sent.state === 'failed') {
            report.failed++;
            if (sent.rewound) {
              // The rest of this page holds seals that were taken back: seal again, and go on
              // from the freed nonce.
              after = { sender: row.sender, nonce: row.nonce - 1 };
              rewound = true;
              break;
            }
          } else {
            report.retrying++;
            report.stopped = true;
            return report;
          }
        }
      } finally {
        // One statement per page: a crash before it only means these rows are sent again,
        // which the chain answers as duplicates.
        await markAcknowledged(db, acks, this.opts.clock.nowMs());
      }
      if (rewound) await sealAll();
      else if (page.length < batch) return report;
    }
  }

  private async send(row: SealedOutboxRow): Promise<Sent> {
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
      events.emit('courier.failure', { kind: row.kind, retryable: false });
      const failed = await failEntryNow(db, row, attempts, `unreadable outbox body: ${decoded.error}`, clock);
      this.logFailure(row, failed, decoded.error, 'outbox entry unreadable: marked failed');
      return { state: 'failed', rewound: failed.rewound };
    }
    const outcome = await chain.submit(decoded.tx).catch((err: unknown) => ({
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
      return { state: 'acknowledged', height: outcome.height ?? null };
    }
    events.emit('courier.failure', { kind: row.kind, retryable: outcome.retryable });
    if (!outcome.retryable) {
      const failed = await failEntryNow(db, row, attempts, outcome.error, clock);
      this.logFailure(row, failed, outcome.error, 'chain refused a transaction');
      return { state: 'failed', rewound: failed.rewound };
    }
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

  private logFailure(row: SealedOutboxRow, failed: FailOutcome, error: string, message: string): void {
    const at = { id: row.id, kind: row.kind, sender: row.sender, nonce: row.nonce, error };
    if (failed.rewound) this.opts.logger.error(at, `${message}; its nonce goes to the next entry`);
    else if (failed.failed)
      // A later entry was sent already, so the nonce could not be given again: the node will
      // refuse everything after it until an operator fills the gap.
      this.opts.logger.error(at, `${message}; nonce gap left: a later entry was already sent`);
  }
}
