// The courier: delivers the outbox to the chain, at least once. It first seals queued drafts
// (nonce and signature, OutboxWriter.seal), then walks sealed pending rows in nonce order a page
// at a time (keyset paging, so memory stays flat however long the queue), sends each signed
// transaction exactly as stored, and records the chain's answer:
//   accepted (a duplicate too: the chain already has this hash) → acknowledged;
//   retryable failure → attempts + 1, next_attempt_at = now + backoff, and the flush stops;
//   non-retryable failure → failed, with the error kept for the operator.
// The flush stops at the first row that must wait (backing off, or a retryable failure) because
// the CPC node takes a sender's nonces only in sequence: sending n+1 before n would only earn a
// rejection. A forced flush (the operator's) ignores next_attempt_at.

import type { Logger } from 'pino';
import type { ChainPort } from '../chain/port.js';
import { decodeTx } from '../chain/wire.js';
import type { Clock } from '../domain/clock.js';
import { courierBackoffMs } from '../domain/courier.js';
import type { Db } from '../store/db.js';
import { markAcknowledged, markRetry, pendingPage, type SealedOutboxRow } from '../store/outbox.js';
import { failEntryNow } from './outbox-failure.js';
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

type Sent = { state: 'acknowledged'; height: number | null } | { state: 'retrying' } | { state: 'failed' };

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
    while ((await this.opts.seal(batch)) > 0);
    let after: { sender: string; nonce: number } | undefined;
    for (;;) {
      const page = await pendingPage(db, after, batch);
      const acks: { id: number; height: number | null }[] = [];
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
            acks.push({ id: row.id, height: sent.height });
            report.acknowledged++;
          } else if (sent.state === 'failed') report.failed++;
          else {
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
      if (page.length < batch) return report;
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
      await failEntryNow(db, row, attempts, `unreadable outbox body: ${decoded.error}`, clock);
      this.opts.logger.error({ id: row.id, error: decoded.error }, 'outbox entry unreadable: marked failed');
      return { state: 'failed' };
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
      await failEntryNow(db, row, attempts, outcome.error, clock);
      this.opts.logger.error(
        { id: row.id, kind: row.kind, error: outcome.error },
        'chain refused a transaction',
      );
      return { state: 'failed' };
    }
    const delay = courierBackoffMs(
      attempts,
      this.opts.backoffBaseMs,
      this.opts.backoffMaxMs,
      this.opts.random,
    );
    await markRetry(db, row.id, attempts, clock.nowMs() + delay, outcome.error);
    this.opts.logger.warn(
      { id: row.id, attempts, delay, error: outcome.error },
      'chain send failed: backing off',
    );
    return { state: 'retrying' };
  }
}
