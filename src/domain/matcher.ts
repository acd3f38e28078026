// Matching, first version: a job goes to a connected provider whose capability meets the job's
// requirement and whose offer is cheapest, never past the provider's free slots or free units,
// never above what the job's share of the reward can pay. Pure: it returns a plan; the
// dispatcher commits it with conditional updates. Every non-match has a reason code.

import type { Capability, Requirements } from './schemas/capability.js';

export const NO_MATCH_REASONS = [
  'capability_mismatch',
  'insufficient_gpu_memory',
  'accelerator_missing',
  'price_above_reward',
  'no_capacity',
  'no_provider',
] as const;
export type NoMatchReason = (typeof NO_MATCH_REASONS)[number];

export interface JobNeed {
  jobId: string;
  challengeType: string;
  /** Inference only: the model the provider must serve. */
  model?: string | undefined;
  requirements?: Requirements | null | undefined;
  units: number;
  /** The most this job may cost: its share of the task's reward, in base units. */
  budget: bigint;
}

export interface Provider {
  address: string;
  capability: Capability;
  freeSlots: number;
  /** Null: the provider has posted no offer and takes no work. */
  pricePerUnit: bigint | null;
  freeUnits: number;
}

/** GPU model names compare without case, spaces or punctuation: "RTX 4090" is "rtx4090". */
export function normalizeModel(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** Why this machine cannot run the job, or null when it can. */
export function capabilityProblem(cap: Capability, need: JobNeed): NoMatchReason | null {
  if (!cap.challenge_types.includes(need.challengeType as Capability['challenge_types'][number]))
    return 'capability_mismatch';
  if (need.model !== undefined && !cap.models.includes(need.model)) return 'capability_mismatch';
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

export type Match = { ok: true; address: string; price: bigint } | { ok: false; reason: NoMatchReason };

/**
 * Picks the cheapest capable provider with room for the job. Ties go to the lowest address, so
 * the same inputs always give the same plan. The reason for a miss is the one that got furthest:
 * a capable but full provider says `no_capacity`, not `capability_mismatch`.
 */
export function chooseProvider(need: JobNeed, providers: readonly Provider[]): Match {
  let best: Provider | undefined;
  let bestPrice = 0n;
  let reason: NoMatchReason = 'no_provider';
  const rank = (r: NoMatchReason) => NO_MATCH_REASONS.indexOf(r);
  const note = (r: NoMatchReason) => {
    if (reason === 'no_provider' || rank(r) > rank(reason)) reason = r;
  };
  for (const p of providers) {
    const problem = capabilityProblem(p.capability, need);
    if (problem) {
      note(problem);
      continue;
    }
    if (p.pricePerUnit === null) {
      note('no_capacity');
      continue;
    }
    const price = p.pricePerUnit * BigInt(need.units);
    if (price > need.budget) {
      note('price_above_reward');
      continue;
    }
    if (p.freeSlots < 1 || p.freeUnits < need.units) {
      note('no_capacity');
      continue;
    }
    if (!best || price < bestPrice || (price === bestPrice && p.address < best.address)) {
      best = p;
      bestPrice = price;
    }
  }
  return best ? { ok: true, address: best.address, price: bestPrice } : { ok: false, reason };
}

/** The job's share of its task's reward, by units, rounded down: together never above the reward. */
export function jobBudget(reward: bigint, jobUnits: number, taskUnits: number): bigint {
  if (taskUnits <= 0) return reward;
  return (reward * BigInt(jobUnits)) / BigInt(taskUnits);
}
