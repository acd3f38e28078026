// Matching: a job goes to the capable provider with non-negative reputation whose effective price
// (price × reputation multiplier × accelerator premium, src/domain/pricing.ts) is lowest, never
// past the provider's free slots or free units, never above what the job's share of the reward
// can pay. Ties go to a seeded order, so a replay with the same seed picks the same provider.
// Pure: it returns a plan; the dispatcher commits it with conditional updates. Every non-match
// has a reason code, so the API can say why a job is waiting.

import { OfferIndex, type Ranked, type ShapeSummary } from './offer-index.js';
import { effectivePrice, effectivePriceScaled } from './pricing.js';
import { multiplierPpm } from './reputation.js';
import { defaultParams, type SchedulerParams } from './scheduler-params.js';
import type { Capability } from './schemas/capability.js';
import {
  NO_MATCH_REASONS,
  type JobNeed,
  type MatchCapability,
  type NoMatchReason,
  type Provider,
} from './scheduling/match-types.js';

export { NO_MATCH_REASONS, type JobNeed, type MatchCapability, type NoMatchReason, type Provider };

/** GPU model names compare without case, spaces or punctuation: "RTX 4090" is "rtx4090". */
export function normalizeModel(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** Why this machine cannot run the job, or null when it can. */
export function capabilityProblem(cap: MatchCapability, need: JobNeed): NoMatchReason | null {
  if (!cap.challenge_types.includes(need.challengeType as Capability['challenge_types'][number]))
    return 'capability_mismatch';
  if (need.model !== undefined && !cap.models.includes(need.model)) return 'capability_mismatch';
  if (
    need.runnerId != null &&
    cap.runners?.[need.challengeType as Capability['challenge_types'][number]]?.id !== need.runnerId
  )
    return 'capability_mismatch';
  if ((need.feePctCt ?? 100) !== (cap.fee_pct_ct ?? 100)) return 'payment_mismatch';
  const r = need.requirements;
  if (!r) return null;
  if (r.accelerator !== undefined) {
    if (cap.accelerator !== r.accelerator) return 'accelerator_missing';
    if ((r.accelerator_memory_mb ?? 0) > cap.accelerator_memory_mb) return 'accelerator_missing';
  }
  if (r.cpu_cores !== undefined && cap.cpu_cores < r.cpu_cores) return 'capability_mismatch';
  if (
    r.gpu_model !== undefined &&
    !(cap.gpu_model && normalizeModel(cap.gpu_model).includes(normalizeModel(r.gpu_model)))
  )
    return 'capability_mismatch';
  if (r.gpu_count !== undefined && cap.gpu_count < r.gpu_count) return 'capability_mismatch';
  if (r.gpu_memory_mb !== undefined && (cap.gpu_count === 0 || cap.gpu_memory_mb < r.gpu_memory_mb))
    return 'insufficient_gpu_memory';
  if (r.frameworks?.some((f) => !cap.frameworks.some((have) => have.toLowerCase() === f.toLowerCase())))
    return 'capability_mismatch';
  return null;
}

export interface MatchContext {
  /** Defaults to defaultParams(). */
  params?: SchedulerParams | undefined;
  /** Seeds the tie-break order; record it with a decision to replay it. */
  seed?: number | undefined;
}

export type Match =
  | {
      ok: true;
      address: string;
      /** What the customer pays: the provider's own price for the job's units. */
      price: bigint;
      /** Per unit, rounded down, premium included: for the scheduler_effective_price gauge. */
      effectivePrice: bigint;
    }
  | { ok: false; reason: NoMatchReason };

/**
 * A provider's place among equal effective prices: FNV-1a of the address from a seeded basis,
 * then a 32-bit finaliser so that nearby addresses spread. Plain address order would hand every
 * tie to the same provider; a seed rotates them and stays replayable.
 */
export function tieRank(seed: number, address: string): number {
  let h = (2166136261 ^ seed) >>> 0;
  for (let i = 0; i < address.length; i++) h = Math.imul(h ^ address.charCodeAt(i), 16777619);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function ranked(p: Provider, params: SchedulerParams): Ranked {
  const ppm = multiplierPpm(p.reputation ?? 0, params);
  const key = p.pricePerUnit === null ? 0n : effectivePriceScaled(p.pricePerUnit, ppm, false);
  return { p, ppm, key, tie: -1, slots: p.freeSlots, units: p.freeUnits };
}

function before(a: Ranked, b: Ranked, seed: number): boolean {
  if (a.key !== b.key) return a.key < b.key;
  if (a.tie < 0) a.tie = tieRank(seed, a.p.address);
  if (b.tie < 0) b.tie = tieRank(seed, b.p.address);
  if (a.tie !== b.tie) return a.tie < b.tie;
  return a.p.address < b.p.address;
}

/** Why this provider cannot take the job now, checked in the order a customer would ask. */
function problem(p: Provider, slots: number, units: number, need: JobNeed): NoMatchReason | null {
  if (need.excluded?.includes(p.address)) return 'no_provider';
  const cap = capabilityProblem(p.capability, need);
  if (cap) return cap;
  if ((p.reputation ?? 0) < 0) return 'reputation_failure';
  if (p.pricePerUnit === null) return 'no_capacity';
  if (p.pricePerUnit * BigInt(need.units) > need.budget) return 'price_above_reward';
  if (slots < 1 || units < need.units) return 'no_capacity';
  return null;
}

const RANK = new Map(NO_MATCH_REASONS.map((r, i) => [r, i]));

/** The reason that got furthest: a capable but full provider says `no_capacity`, not `capability_mismatch`. */
function furthest(a: NoMatchReason, b: NoMatchReason): NoMatchReason {
  if (a === 'no_provider') return b;
  return (RANK.get(b) ?? 0) > (RANK.get(a) ?? 0) ? b : a;
}

function matched(r: Ranked, need: JobNeed): Match & { ok: true } {
  const price = (r.p.pricePerUnit as bigint) * BigInt(need.units);
  const accel = need.requirements?.accelerator !== undefined;
  return {
    ok: true,
    address: r.p.address,
    price,
    effectivePrice: effectivePrice(r.p.pricePerUnit as bigint, r.ppm, accel),
  };
}

/** Picks the qualifying provider with the lowest effective price for one job. */
export function chooseProvider(need: JobNeed, providers: readonly Provider[], ctx: MatchContext = {}): Match {
  const params = ctx.params ?? defaultParams();
  const seed = ctx.seed ?? 0;
  let best: Ranked | undefined;
  let reason: NoMatchReason = 'no_provider';
  for (const p of providers) {
    const why = problem(p, p.freeSlots, p.freeUnits, need);
    if (why) {
      reason = furthest(reason, why);
      continue;
    }
    const r = ranked(p, params);
    if (!best || before(r, best, seed)) best = r;
  }
  return best ? matched(best, need) : { ok: false, reason };
}

export interface PlanContext extends MatchContext {
  /** Jobs running now: all of them, and the low-priority ones (the base of low_priority_cap_pct). */
  running?: { total: number; low: number } | undefined;
  /** Look at no more than this many jobs (the head of the queue); the rest keep their old reasons. */
  maxJobs?: number | undefined;
}

export interface Assignment {
  jobId: string;
  address: string;
  price: bigint;
  effectivePrice: bigint;
}

export interface Plan {
  assignments: Assignment[];
  /** Why each job looked at and not assigned is waiting. */
  reasons: Map<string, NoMatchReason>;
}

/**
 * How many low-priority jobs may run at once: low_priority_cap_pct of all slots (running jobs plus
 * free slots), and at least one, so low work always moves. A share of slots rather than of running
 * jobs: with only low work queued, a share of running jobs would leave the market idle.
 */
export function lowPrioritySlots(capacity: number, params: SchedulerParams): number {
  if (capacity <= 0) return 0;
  return Math.max(1, Math.floor((capacity * params.low_priority_cap_pct) / 100));
}

/** Every provider ranked: lowest effective price first, ties in the seeded order. */
function rankOrder(providers: readonly Provider[], params: SchedulerParams, seed: number): Ranked[] {
  return providers
    .map((p) => ranked(p, params))
    .sort((a, b) => (before(a, b, seed) ? -1 : before(b, a, seed) ? 1 : 0));
}

/**
 * An offer index over these providers (src/domain/offer-index.ts), ranked with the context's
 * parameters and seed, for planOnIndex. Inputs are not modified: the index copies their room.
 */
export function buildOfferIndex(providers: readonly Provider[], ctx: MatchContext = {}): OfferIndex {
  return new OfferIndex(
    rankOrder(providers, ctx.params ?? defaultParams(), ctx.seed ?? 0),
    capabilityProblem,
  );
}

/**
 * Why no provider takes a job that found no room: the reason that got furthest over every
 * provider, as problem() would give it one by one. A capable, reputable provider that posted no
 * offer, or whose price the budget covers, can only be out of room.
 */
function whyNot(s: ShapeSummary, need: JobNeed): NoMatchReason {
  if (s.unpriced || (s.minPrice !== null && s.minPrice * BigInt(need.units) <= need.budget))
    return 'no_capacity';
  if (s.reputable) return 'price_above_reward';
  if (s.capable) return 'reputation_failure';
  return s.mismatches.reduce(furthest, 'no_provider');
}

/**
 * Plans a batch: walks jobs in the order given (the priority queue's order) and gives each the
 * best provider left, reserving a slot and the job's units as it goes, so the plan never
 * oversubscribes anyone. A low-priority job that could run but would pass the low-priority cap is
 * `deferred`. Providers are ranked once per plan and indexed by capability (src/domain/offer-index.ts):
 * a job walks only the providers that can run it, cheapest first, and stops at the first that
 * fits. Inputs are not modified.
 */
export function planMatches(
  jobs: Iterable<JobNeed>,
  providers: readonly Provider[],
  ctx: PlanContext = {},
): Plan {
  return planOnIndex(jobs, buildOfferIndex(providers, ctx), ctx);
}

/**
 * planMatches against an index a scheduler keeps between ticks: the plan's reservations stay in
 * the index, so the next plan sees the room this one left. `ctx.running` must count what earlier
 * plans started; the parameters and seed that rank are the ones the index was built with.
 */
export function planOnIndex(jobs: Iterable<JobNeed>, index: OfferIndex, ctx: PlanContext = {}): Plan {
  const params = ctx.params ?? defaultParams();
  const running = ctx.running ?? { total: 0, low: 0 };
  const lowAllowed = lowPrioritySlots(running.total + index.freeSlots, params);
  let low = running.low;
  const plan: Plan = { assignments: [], reasons: new Map() };
  let seen = 0;
  for (const need of jobs) {
    if (index.freeSlots === 0 || (ctx.maxJobs !== undefined && seen >= ctx.maxJobs)) break;
    seen++;
    const candidates = index.candidates(need);
    // A job of this shape and size with as much money found no room, and room only shrinks.
    const failedWith = candidates.failed.get(need.units);
    const winner =
      failedWith !== undefined && need.budget <= failedWith ? undefined : index.firstFit(candidates, need);
    if (!winner) {
      // A job that excludes providers saw fewer of them: its failure says nothing of other jobs.
      if (!need.excluded?.length && (failedWith === undefined || need.budget > failedWith))
        candidates.failed.set(need.units, need.budget);
      plan.reasons.set(need.jobId, whyNot(candidates.summary, need));
      continue;
    }
    const isLow = need.priority === 'low';
    if (isLow && low >= lowAllowed) {
      plan.reasons.set(need.jobId, 'deferred');
      continue;
    }
    if (isLow) low++;
    index.reserve(winner, need.units);
    const m = matched(winner, need);
    plan.assignments.push({
      jobId: need.jobId,
      address: m.address,
      price: m.price,
      effectivePrice: m.effectivePrice,
    });
  }
  return plan;
}

/** The job's share of its task's reward, by units, rounded down: together never above the reward. */
export function jobBudget(reward: bigint, jobUnits: number, taskUnits: number): bigint {
  if (taskUnits <= 0) return reward;
  return (reward * BigInt(jobUnits)) / BigInt(taskUnits);
}
