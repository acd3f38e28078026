// The reads the API serves that no service owns: open offers, queue depths, lane demand, status
// counts, a job's row. The API reads through these and never imports src/store (eslint.config.js
// enforces the layers); each is a thin, named view over one store query.

import type { Market } from './market.js';
import { getJob, type JobRow } from '../store/jobs.js';
import { countOutboxByStatus } from '../store/outbox.js';
import { listOpenOffers, type OfferRow, type OpenOfferRow } from '../store/providers.js';
import { laneDemand, leasedByType, queueDepths, queuedByType } from '../store/stats.js';
import { countTasksByStatus } from '../store/tasks.js';
import { providerStanding, verificationCounts } from '../store/verification.js';
import { disputeCounts } from '../store/disputes.js';

export type { JobRow, OfferRow, OpenOfferRow };

/** Open offers of connected providers, cheapest first, one page. */
export function openOffers(
  market: Market,
  limit: number,
  offset: number,
): Promise<{ rows: OpenOfferRow[]; total: number }> {
  return listOpenOffers(market.db, limit, offset);
}

/** One job by id, or undefined. */
export function jobById(market: Market, jobId: string): Promise<JobRow | undefined> {
  return getJob(market.db, jobId);
}

/** Queued jobs by priority. */
export function queuedByPriority(market: Market): Promise<Record<'low' | 'normal' | 'high', number>> {
  return queueDepths(market.db);
}

/** Queued jobs by challenge type. */
export function queuedByChallengeType(market: Market): Promise<Map<string, number>> {
  return queuedByType(market.db);
}

/** Leased (running) jobs by challenge type. */
export function leasedByChallengeType(market: Market): Promise<Map<string, number>> {
  return leasedByType(market.db);
}

/** Backlog, units ever queued and the last price paid, over the given challenge types. */
export function demandOf(
  market: Market,
  types: readonly string[],
): Promise<{ backlog: number; unitsTotal: number; lastPrice: string | null }> {
  return laneDemand(market.db, types);
}

/** Tasks by status. */
export function tasksByStatus(market: Market): Promise<Map<string, number>> {
  return countTasksByStatus(market.db);
}

/** Courier outbox rows by status. */
export function outboxByStatus(market: Market): ReturnType<typeof countOutboxByStatus> {
  return countOutboxByStatus(market.db);
}

/** What verification has decided since the database began, and where providers stand. */
export async function verificationStats(market: Market): Promise<{
  verification: Record<string, number>;
  canary: { pass: number; fail: number };
  fraud_detected: number;
  providers: { fraud: number; probation: number; trusted: number };
  disputes: Record<string, number>;
}> {
  const { verification, canaryPassed } = await verificationCounts(market.db);
  const standing = await providerStanding(market.db, market.params.get().probation_jobs);
  return {
    verification,
    canary: { pass: canaryPassed, fail: standing.canary_caught },
    fraud_detected: standing.fraud,
    providers: { fraud: standing.fraud, probation: standing.probation, trusted: standing.trusted },
    disputes: await disputeCounts(market.db),
  };
}
