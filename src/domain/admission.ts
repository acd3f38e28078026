// Admission (spec "Industrial Admission & Fee Lanes", "Fair-Share Caps and Burst Quotas"): which
// lane a job is in, whether the comfort guard is loose or tight, the market's capacity estimate,
// and the dual budget that keeps any one buyer or provider from monopolising capacity.
//
// Per party (buyer, provider) a usage record decays linearly over usage_window_secs and is held to
// fair_share_cap of the capacity window; above the cap a burst bucket (burst_quota, refilling at
// burst_refill_rate per second) pays for the excess, and usage never passes cap + burst_quota.
// Pure: state goes in, new state comes out, `now` is a parameter.

import { comfortThreshold, type Lane, type SchedulerParams } from './scheduler-params.js';
import { CHALLENGE_TYPES, type ChallengeType } from './schemas/payloads.js';

export type Mode = 'loose' | 'tight';
export type RejectReason = 'capacity' | 'fair_share' | 'burst_exhausted';

/** The lane of a challenge type; a type the map does not know is batch work. */
export function laneOf(challengeType: string, params: SchedulerParams): Lane {
  return (params.lane_of as Record<string, Lane | undefined>)[challengeType] ?? 'industrial';
}

/** The challenge types in a lane under the lane map in force. */
export function typesOfLane(lane: Lane, params: SchedulerParams): ChallengeType[] {
  return CHALLENGE_TYPES.filter((t) => laneOf(t, params) === lane);
}

export interface ComfortInput {
  /** consumer_fee_p90: the consumer lane's p90 price per unit (base units); null with no prices yet. */
  consumerFeeP90: bigint | null;
  /** How long consumer jobs have been waiting (the queue's p95 age), seconds. */
  consumerAgeSecs: number;
}

/** Tight when consumers pay too much or wait too long: then industrial work must step aside. */
export function comfortMode(input: ComfortInput, params: SchedulerParams): Mode {
  if (input.consumerFeeP90 !== null && input.consumerFeeP90 > comfortThreshold(params)) return 'tight';
  if (input.consumerAgeSecs > params.consumer_age_limit_secs) return 'tight';
  return 'loose';
}

/** How many capacity samples the moving-window estimator averages. */
export const CAPACITY_SAMPLES = 8;

/**
 * Adds a capacity sample (units per second the market can serve), keeping the latest few. The
 * first capacity after none at all starts the window afresh: zeros from before any provider came
 * say nothing about what is there now, and would refuse work for a whole window after the first
 * worker joins. A drop is still averaged in slowly.
 */
export function recordCapacity(samples: readonly number[], unitsPerSec: number): number[] {
  if (!Number.isFinite(unitsPerSec) || unitsPerSec < 0) throw new RangeError(`capacity ${unitsPerSec}`);
  if (unitsPerSec > 0 && samples.every((s) => s === 0)) return [unitsPerSec];
  return [...samples, unitsPerSec].slice(-CAPACITY_SAMPLES);
}

/** The moving average of the samples: one idle or busy moment does not swing admission. */
export function estimateCapacity(samples: readonly number[]): number {
  if (samples.length === 0) return 0;
  return samples.reduce((a, b) => a + b, 0) / samples.length;
}

/** Too little headroom: below min_capacity, or one job asking for more than the whole market. */
export function capacityShortfall(demand: number, capacity: number, params: SchedulerParams): boolean {
  return capacity < params.min_capacity || demand > capacity;
}

export interface PartyUsage {
  /** Recent demand in unit-seconds, decaying linearly from `atMs`. */
  readonly usage: number;
  /** Burst tokens left. */
  readonly burst: number;
  readonly atMs: number;
}

/** A record brought to `nowMs`: usage × (window − elapsed)/window, burst refilled. */
export function decayUsage(u: PartyUsage | undefined, nowMs: number, params: SchedulerParams): PartyUsage {
  if (!u) return { usage: 0, burst: params.burst_quota, atMs: nowMs };
  // A clock that went backwards decays and refills nothing.
  const elapsed = Math.max(0, nowMs - u.atMs) / 1000;
  const window = params.usage_window_secs;
  return {
    usage: (u.usage * Math.max(0, window - elapsed)) / window,
    burst: Math.min(params.burst_quota, u.burst + elapsed * params.burst_refill_rate),
    atMs: Math.max(nowMs, u.atMs),
  };
}

export type PartyCheck = { ok: true; parties: PartyUsage[] } | { ok: false; reason: RejectReason };

/**
 * Checks one demand against every party's budget and, when all pass, returns their records with
 * it recorded; when any fails nothing is recorded. Within the cap a demand is free; above it the
 * whole demand is paid from the burst bucket (`burst_exhausted` when the bucket cannot pay), and a
 * demand that would take usage past cap + burst_quota is refused outright as `fair_share`.
 */
export function checkParties(
  parties: readonly (PartyUsage | undefined)[],
  demand: number,
  capacity: number,
  nowMs: number,
  params: SchedulerParams,
): PartyCheck {
  if (!Number.isFinite(demand) || demand < 0) throw new RangeError(`demand ${demand}`);
  if (capacityShortfall(demand, capacity, params)) return { ok: false, reason: 'capacity' };
  const cap = fairShareCap(capacity, params);
  const next: PartyUsage[] = [];
  for (const party of parties) {
    const u = decayUsage(party, nowMs, params);
    const projected = u.usage + demand;
    if (projected <= cap) {
      next.push({ ...u, usage: projected });
      continue;
    }
    // Over the cap: an empty bucket is the fair share itself refusing (`fair_share`); a bucket
    // with tokens that cannot pay for this demand, or would carry usage past cap + burst_quota,
    // is `burst_exhausted`, as the compute-market engine answers.
    if (u.burst <= 0) return { ok: false, reason: 'fair_share' };
    if (u.burst < demand || projected > cap + params.burst_quota)
      return { ok: false, reason: 'burst_exhausted' };
    next.push({ usage: projected, burst: u.burst - demand, atMs: u.atMs });
  }
  return { ok: true, parties: next };
}

/** fair_share_cap of the capacity window: what the market can serve over usage_window_secs. */
export function fairShareCap(capacity: number, params: SchedulerParams): number {
  return params.fair_share_cap * capacity * params.usage_window_secs;
}

export interface AdmissionState {
  readonly buyers: ReadonlyMap<string, PartyUsage>;
  readonly providers: ReadonlyMap<string, PartyUsage>;
}

export function emptyAdmission(): AdmissionState {
  return { buyers: new Map(), providers: new Map() };
}

export type Admission = { ok: true; state: AdmissionState } | { ok: false; reason: RejectReason };

/**
 * The spec's check_and_record(buyer, provider, demand). `provider` is null at submission, before a
 * provider is chosen. Copies the maps it changes: a hot loop with many parties keeps its own maps
 * and calls checkParties, which is O(1).
 */
export function checkAndRecord(
  state: AdmissionState,
  buyer: string,
  provider: string | null,
  demand: number,
  capacity: number,
  nowMs: number,
  params: SchedulerParams,
): Admission {
  const parties = [state.buyers.get(buyer)];
  if (provider !== null) parties.push(state.providers.get(provider));
  const check = checkParties(parties, demand, capacity, nowMs, params);
  if (!check.ok) return check;
  const buyers = new Map(state.buyers).set(buyer, check.parties[0]!);
  const providers =
    provider === null ? state.providers : new Map(state.providers).set(provider, check.parties[1]!);
  return { ok: true, state: { buyers, providers } };
}

/** A record decayed to nothing and refilled says no more than a missing one. */
export function forgettable(u: PartyUsage, nowMs: number, params: SchedulerParams): boolean {
  const d = decayUsage(u, nowMs, params);
  return d.usage <= 0 && d.burst >= params.burst_quota;
}

/** Drops records that have decayed to nothing and refilled: they say no more than a missing one. */
export function pruneAdmission(
  state: AdmissionState,
  nowMs: number,
  params: SchedulerParams,
): AdmissionState {
  const keep = (m: ReadonlyMap<string, PartyUsage>) => {
    const out = new Map<string, PartyUsage>();
    for (const [k, u] of m) if (!forgettable(u, nowMs, params)) out.set(k, u);
    return out;
  };
  return { buyers: keep(state.buyers), providers: keep(state.providers) };
}

export type IndustrialDecision =
  | { decision: 'admitted'; state: AdmissionState }
  | { decision: 'deferred'; reason: 'tight'; state: AdmissionState }
  | { decision: 'rejected'; reason: RejectReason };

/**
 * An industrial job at admission: refused (503 `capacity`) when the market lacks headroom, refused
 * (429) when the buyer or provider is over budget, else recorded and either admitted or, while the
 * comfort guard is tight, held back (`deferred`: it waits in its queue until the guard loosens).
 * A deferred job's demand is recorded too, so submitting while the market is tight is no way
 * around a buyer's fair share.
 */
export function admitIndustrial(
  state: AdmissionState,
  job: { buyer: string; provider: string | null; demand: number },
  mode: Mode,
  capacity: number,
  nowMs: number,
  params: SchedulerParams,
): IndustrialDecision {
  const r = checkAndRecord(state, job.buyer, job.provider, job.demand, capacity, nowMs, params);
  if (!r.ok) return { decision: 'rejected', reason: r.reason };
  return mode === 'tight'
    ? { decision: 'deferred', reason: 'tight', state: r.state }
    : { decision: 'admitted', state: r.state };
}
