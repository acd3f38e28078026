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

export class AdmissionService {
  private samples: number[] = [];
  private buyers = new Map<string, PartyUsage>();
  private readonly providers = new Map<string, PartyUsage>();
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

  /** The capacity estimate, units per second: the moving window, or what is offered now before it fills. */
  capacity(): number {
    return this.samples.length === 0 ? this.offeredUnits() : estimateCapacity(this.samples);
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
    const state: AdmissionState = { buyers: this.buyers, providers: new Map() };
    const capacity = this.capacity();
    const d = admitIndustrial(
      state,
      { buyer, provider: null, demand: units },
      this.mode,
      capacity,
      this.clock.nowMs(),
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
    this.buyers = new Map(d.state.buyers);
    this.events.emit('admission.industrial', { decision: d.decision, reason: null, buyer, units });
    return { lane: 'industrial', decision: d.decision };
  }

  /** True when the provider is so far over its share that no industrial job should go to it now. */
  providerSaturated(provider: string): boolean {
    return providerSaturated(
      this.providers.get(provider),
      this.capacity(),
      this.clock.nowMs(),
      this.params(),
    );
  }

  /** The provider's fair-share record, as the tick plans with it. */
  providerUsage(provider: string): PartyUsage | undefined {
    return this.providers.get(provider);
  }

  /** A record the tick's plan charged (src/domain/scheduling/plan-tick.ts). */
  setProviderUsage(provider: string, usage: PartyUsage): void {
    this.providers.set(provider, usage);
  }

  /** Records an industrial job's units against its provider; false (nothing recorded) when over budget. */
  chargeProvider(provider: string, units: number): boolean {
    const params = this.params();
    if (!params.admission_enabled) return true;
    const check = checkParties(
      [this.providers.get(provider)],
      units,
      this.capacity(),
      this.clock.nowMs(),
      params,
    );
    if (!check.ok) return false;
    this.providers.set(provider, check.parties[0] as PartyUsage);
    return true;
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
  usageOf(kind: 'buyer' | 'provider', party: string): PartyUsage {
    const m = kind === 'buyer' ? this.buyers : this.providers;
    return decayUsage(m.get(party), this.clock.nowMs(), this.params());
  }
}

/** Seconds after which a refused request may reasonably be tried again. */
function retryAfter(reason: RejectReason, params: SchedulerParams): number {
  if (reason === 'burst_exhausted' && params.burst_refill_rate > 0)
    return Math.max(1, Math.ceil(1 / params.burst_refill_rate));
  if (reason === 'fair_share') return Math.max(1, Math.ceil(params.usage_window_secs / 4));
  return 5;
}
