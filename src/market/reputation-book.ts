// Reputation consequences, written in the transaction that causes them: a completion, a failure,
// an expired lease, a slashed bond and the provider's counter move together or not at all. The
// in-memory scores the matcher ranks by are a cache that follows the committed rows through the
// 'reputation.adjusted' event (events only observe).

import { groupBy } from '../domain/group-by.js';
import {
  adjust,
  currentScore,
  isForgotten,
  type Outcome,
  type ReputationEntry,
} from '../domain/reputation.js';
import type { SchedulerParams } from '../domain/scheduler-params.js';
import type { Queryable } from '../store/db.js';
import { countProviderOutcomes, type ProviderCounts } from '../store/providers.js';
import { forgetReputation, lockReputation, loadReputation, saveReputations } from '../store/scheduler.js';
import type { MarketEventBus } from './events.js';

export interface OutcomeChange {
  address: string;
  outcome: Outcome;
}

export interface Adjusted extends OutcomeChange {
  entry: ReputationEntry;
}

/** Which provider counter an outcome moves. */
const COUNTER: Partial<Record<Outcome, 'completed' | 'failed' | 'expired'>> = {
  success: 'completed',
  failure: 'failed',
  lease_expired: 'expired',
  fraud: 'failed',
};

/** Counters that move with the outcomes but cost or earn no reputation themselves. */
export interface OutcomeCounters {
  /** Runs that failed at no reputation cost (the customer's invalid payload). */
  failedAlso?: readonly string[];
  /** Verified results, each with its provider, units and run time (ms). */
  verified?: readonly { address: string; units: number; ms: number }[];
  /** Providers whose invalid-payload claims were contradicted, once per claim. */
  contradicted?: readonly string[];
}

/**
 * Applies outcomes inside `tx`: each provider's row is locked, decayed, adjusted once per outcome
 * and saved, and its job, verification and claim counters move with it in one statement. Returns what changed, for announceAdjusted after
 * the commit.
 */
export async function recordOutcomes(
  tx: Queryable,
  changes: readonly OutcomeChange[],
  nowMs: number,
  params: SchedulerParams,
  counters: OutcomeCounters = {},
): Promise<Adjusted[]> {
  const addresses = [...new Set(changes.map((c) => c.address))].sort();
  const entries = await lockReputation(tx, addresses);
  const plan = planOutcomes(entries, changes, nowMs, params, counters);
  await saveReputations(tx, plan.saved);
  await countProviderOutcomes(tx, plan.counts, nowMs);
  return plan.adjusted;
}

/**
 * What recordOutcomes writes, from the stored entries of the providers the changes name: each
 * entry decayed and adjusted once per outcome, and the counters each provider's outcomes move.
 */
export function planOutcomes(
  entries: ReadonlyMap<string, ReputationEntry>,
  changes: readonly OutcomeChange[],
  nowMs: number,
  params: SchedulerParams,
  counters: OutcomeCounters = {},
): { adjusted: Adjusted[]; saved: { address: string; entry: ReputationEntry }[]; counts: ProviderCounts[] } {
  const byAddress = groupBy(changes, (c) => c.address);
  const addresses = [...byAddress.keys()].sort();
  const adjusted: Adjusted[] = [];
  const saved: { address: string; entry: ReputationEntry }[] = [];
  const counts = new Map<string, ProviderCounts>();
  const countsOf = (address: string): ProviderCounts => {
    let c = counts.get(address);
    if (!c) counts.set(address, (c = { address }));
    return c;
  };
  for (const address of addresses) {
    let entry = entries.get(address);
    const delta = countsOf(address);
    for (const c of byAddress.get(address) ?? []) {
      entry = adjust(entry, c.outcome, nowMs, params);
      adjusted.push({ ...c, entry });
      const counter = COUNTER[c.outcome];
      if (counter) delta[counter] = (delta[counter] ?? 0) + 1;
    }
    if (entry) saved.push({ address, entry });
  }
  // A failure that costs no reputation (the customer's invalid payload) still counts as run.
  for (const address of counters.failedAlso ?? []) {
    const delta = countsOf(address);
    delta.failed = (delta.failed ?? 0) + 1;
  }
  for (const v of counters.verified ?? []) {
    const delta = countsOf(v.address);
    delta.verifiedJobs = (delta.verifiedJobs ?? 0) + 1;
    delta.verifiedUnits = (delta.verifiedUnits ?? 0) + v.units;
    delta.verifiedMs = (delta.verifiedMs ?? 0) + v.ms;
  }
  for (const address of counters.contradicted ?? []) {
    const delta = countsOf(address);
    delta.contradicted = (delta.contradicted ?? 0) + 1;
  }
  return { adjusted, saved, counts: [...counts.values()] };
}

/** After the commit: the cache and the metrics see what recordOutcomes wrote. */
export function announceAdjusted(events: MarketEventBus, adjusted: readonly Adjusted[]): void {
  for (const a of adjusted)
    events.emit('reputation.adjusted', {
      address: a.address,
      outcome: a.outcome,
      score: a.entry.score,
      entry: a.entry,
    });
}

/** The scores the matcher ranks by: loaded when a provider connects, then kept by events. */
export class ReputationCache {
  private readonly entries = new Map<string, ReputationEntry>();

  constructor(
    events: MarketEventBus,
    private readonly params: () => SchedulerParams,
  ) {
    events.on('reputation.adjusted', (e) => this.entries.set(e.address, e.entry));
    // A peer's score that replaced the stored one replaces the cached one too.
    events.on('reputation.gossiped', (e) => {
      if (this.entries.has(e.address)) this.entries.set(e.address, e.entry);
    });
  }

  async load(q: Queryable, address: string): Promise<void> {
    const entry = await loadReputation(q, address);
    if (entry) this.entries.set(address, entry);
  }

  entry(address: string): ReputationEntry | undefined {
    return this.entries.get(address);
  }

  scoreOf(address: string, nowMs: number): number {
    return currentScore(this.entries.get(address), nowMs, this.params());
  }

  /**
   * Retention (provider_reputation_retention): entries untouched for longer are deleted, and the
   * provider starts again from 0. Returns how many rows went.
   */
  async forget(q: Queryable, nowMs: number): Promise<number> {
    const params = this.params();
    for (const [address, e] of this.entries) if (isForgotten(e, nowMs, params)) this.entries.delete(address);
    return forgetReputation(q, nowMs - params.provider_reputation_retention * 1000);
  }
}
