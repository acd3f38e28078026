// Admission at runtime (spec "Industrial Admission & Fee Lanes", "Fair-Share Caps and Burst
// Quotas"): the capacity estimator's samples, each buyer's and provider's usage, and the comfort
// guard's mode. The rules are in src/domain/admission.ts; this keeps their state between calls.
//
// Capacity is measured in compute units per second: the units the connected providers offer,
// sampled once a second into a moving window. Demand is a task's units (for a provider, a job's).
// Consumer-lane work is never refused here: admission exists to keep industrial batches from
// crowding it out.

import type { Clock } from '../domain/clock.js';
import {
  checkParties,
  comfortMode,
  decayUsage,
  estimateCapacity,
  forgettable,
  laneOf,
  recordCapacity,
  admitIndustrial,
  type AdmissionState,
  type Mode,
  type PartyUsage,
  type RejectReason,
} from '../domain/admission.js';
import { MarketError } from '../domain/errors.js';
import type { Lane, SchedulerParams } from '../domain/scheduler-params.js';
import type { MarketEventBus } from './events.js';
import { providerSaturated } from '../domain/scheduling/plan-tick.js';

export type AdmissionOutcome =
  { lane: 'consumer' } | { lane: 'industrial'; decision: 'admitted' | 'deferred' };

const REJECTIONS: Record<RejectReason, string> = {
  capacity: 'the market has too little provider capacity for industrial work now',
  fair_share: "this account's recent industrial demand is at its fair share of the market",
  burst_exhausted: 'this account is above its fair share and its burst quota is spent',
};

export type PartyKind = 'buyer' | 'provider';

export class AdmissionService {
  private samples: number[] = [];
  private readonly buyers = new Map<string, PartyUsage>();
  private readonly providers = new Map<string, PartyUsage>();
  /**
   * What the other market nodes on the database recorded for each party, as of their last
   * report (src/market/cluster.ts): a party's fair share is held across the whole market.
   */
  private elsewhere: Record<PartyKind, ReadonlyMap<string, PartyUsage>> = {
    buyer: new Map(),
    provider: new Map(),
  };
  mode: Mode = 'loose';

  constructor(
    private readonly clock: Clock,
    private readonly events: MarketEventBus,
    private readonly params: () => SchedulerParams,
    /** consumer_fee_p90 in base units per unit; null while no consumer price has been seen. */
    private readonly consumerFeeP90: () => bigint | null,
    /** Units the connected providers offer now. */
    private readonly offeredUnits: () => number,
  ) {}

  laneOf(challengeType: string): Lane {
    return laneOf(challengeType, this.params());
  }

  /**
   * The capacity estimate, units per second: the moving window, or what is offered now while the
   * window has seen no capacity at all (a provider that just joined counts before its first sample).
   */
  capacity(): number {
    return this.samples.every((s) => s === 0) ? this.offeredUnits() : estimateCapacity(this.samples);
  }

  /** Adds what the providers offer now to the moving window (once a second). */
  sampleCapacity(): void {
    this.samples = recordCapacity(this.samples, this.offeredUnits());
  }

  /**
   * The comfort guard, from the consumer queue as the dispatcher last read it. Fees and age only
   * count while consumer work is waiting: with none queued there is nobody to protect, and a stale
   * fee window must not hold industrial work back forever.
   */
  observeQueue(consumerQueued: number, consumerAgeSecs: number): Mode {
    const mode =
      consumerQueued === 0
        ? 'loose'
        : comfortMode({ consumerFeeP90: this.consumerFeeP90(), consumerAgeSecs }, this.params());
    if (mode !== this.mode) {
      const from = this.mode;
      this.mode = mode;
      this.events.emit('admission.mode', { from, to: mode });
    }
    return mode;
  }

  /**
   * A new task: consumer work passes; industrial work is refused (a MarketError with the reject
   * reason as its code), or its demand is recorded against the buyer and it is admitted, or
   * deferred while the market is tight.
   */
  admitTask(buyer: string, challengeType: string, units: number): AdmissionOutcome {
    const params = this.params();
    if (laneOf(challengeType, params) === 'consumer') return { lane: 'consumer' };
    if (!params.admission_enabled) return { lane: 'industrial', decision: 'admitted' };
    const now = this.clock.nowMs();
    const seen = this.merged('buyer', buyer, now);
    const state: AdmissionState = {
      buyers: seen ? new Map([[buyer, seen]]) : new Map(),
      providers: new Map(),
    };
    const capacity = this.capacity();
    const d = admitIndustrial(
      state,
      { buyer, provider: null, demand: units },
      this.mode,
      capacity,
      now,
      params,
    );
    if (d.decision === 'rejected') {
      this.events.emit('admission.industrial', { decision: 'rejected', reason: d.reason, buyer, units });
      throw new MarketError(d.reason, REJECTIONS[d.reason], {
        reason: d.reason,
        units,
        capacity,
        min_capacity: params.min_capacity,
        fair_share_cap: params.fair_share_cap,
        retry_after_s: retryAfter(d.reason, params),
      });
    }
    this.record('buyer', buyer, d.state.buyers.get(buyer), now);
    this.events.emit('admission.industrial', { decision: d.decision, reason: null, buyer, units });
    return { lane: 'industrial', decision: d.decision };
  }

  /** True when the provider is so far over its share that no industrial job should go to it now. */
  providerSaturated(provider: string): boolean {
    return providerSaturated(
      this.merged('provider', provider, this.clock.nowMs()),
      this.capacity(),
      this.clock.nowMs(),
      this.params(),
    );
  }

  /** The provider's fair-share record across the market, as the tick plans with it. */
  providerUsage(provider: string): PartyUsage | undefined {
    return this.merged('provider', provider, this.clock.nowMs());
  }

  /** A record the tick's plan charged (src/domain/scheduling/plan-tick.ts), from providerUsage's. */
  setProviderUsage(provider: string, usage: PartyUsage): void {
    this.record('provider', provider, usage, this.clock.nowMs());
  }

  /** Records an industrial job's units against its provider; false (nothing recorded) when over budget. */
  chargeProvider(provider: string, units: number): boolean {
    const params = this.params();
    if (!params.admission_enabled) return true;
    const now = this.clock.nowMs();
    const check = checkParties([this.merged('provider', provider, now)], units, this.capacity(), now, params);
    if (!check.ok) return false;
    this.record('provider', provider, check.parties[0], now);
    return true;
  }

  /** This node's records with what the other nodes recorded for the same party added. */
  private merged(kind: PartyKind, party: string, now: number): PartyUsage | undefined {
    const local = this.local(kind).get(party);
    const other = this.elsewhere[kind].get(party);
    if (!other) return local;
    const params = this.params();
    const mine = decayUsage(local, now, params);
    return { ...mine, usage: mine.usage + decayUsage(other, now, params).usage };
  }

  /** Keeps a merged record as this node's own: what the others recorded is theirs to report. */
  private record(kind: PartyKind, party: string, merged: PartyUsage | undefined, now: number): void {
    if (!merged) return;
    const other = this.elsewhere[kind].get(party);
    const theirs = other ? decayUsage(other, now, this.params()).usage : 0;
    this.local(kind).set(party, { ...merged, usage: Math.max(0, merged.usage - theirs) });
  }

  private local(kind: PartyKind): Map<string, PartyUsage> {
    return kind === 'buyer' ? this.buyers : this.providers;
  }

  /** This node's own usage records, to report to the others. */
  localRecords(): { kind: PartyKind; party: string; usage: PartyUsage }[] {
    const out: { kind: PartyKind; party: string; usage: PartyUsage }[] = [];
    for (const kind of ['buyer', 'provider'] as const)
      for (const [party, usage] of this.local(kind)) out.push({ kind, party, usage });
    return out;
  }

  /** What the other nodes reported, summed per party. */
  setElsewhere(records: readonly { kind: PartyKind; party: string; usage: PartyUsage }[]): void {
    const next: Record<PartyKind, Map<string, PartyUsage>> = { buyer: new Map(), provider: new Map() };
    const now = this.clock.nowMs();
    const params = this.params();
    for (const r of records) {
      const have = next[r.kind].get(r.party);
      const add = decayUsage(r.usage, now, params).usage;
      next[r.kind].set(r.party, { usage: (have?.usage ?? 0) + add, burst: 0, atMs: now });
    }
    this.elsewhere = next;
  }

  /** Takes back a charge for a job that was not leased after all (its commit was refused). */
  unchargeProvider(provider: string, units: number): void {
    const u = this.providers.get(provider);
    if (!u) return;
    const d = decayUsage(u, this.clock.nowMs(), this.params());
    this.providers.set(provider, { ...d, usage: Math.max(0, d.usage - units) });
  }

  /** Forgets records that decayed to nothing, so memory follows the active parties only. */
  prune(): void {
    const params = this.params();
    const now = this.clock.nowMs();
    for (const m of [this.buyers, this.providers])
      for (const [k, u] of m) if (forgettable(u, now, params)) m.delete(k);
  }

  /** Usage of one buyer or provider now (for stats and tests). */
  usageOf(kind: PartyKind, party: string): PartyUsage {
    const now = this.clock.nowMs();
    return decayUsage(this.merged(kind, party, now), now, this.params());
  }
}

/** Seconds after which a refused request may reasonably be tried again. */
function retryAfter(reason: RejectReason, params: SchedulerParams): number {
  if (reason === 'burst_exhausted' && params.burst_refill_rate > 0)
    return Math.max(1, Math.ceil(1 / params.burst_refill_rate));
  if (reason === 'fair_share') return Math.max(1, Math.ceil(params.usage_window_secs / 4));
  return 5;
}
