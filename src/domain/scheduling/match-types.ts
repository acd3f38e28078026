// What matching speaks of: a job's needs, a provider as matching sees it, and why a job waits.
// Its own file so that the matcher and the offer index both import it and neither imports the
// other.

import type { Priority } from '../priority.js';
import type { Capability, Requirements } from '../schemas/capability.js';

export const NO_MATCH_REASONS = [
  'capability_mismatch',
  'insufficient_gpu_memory',
  'accelerator_missing',
  // The provider's offer asks for another CT/IT mix (fee_pct_ct) than the task escrowed.
  'payment_mismatch',
  'reputation_failure',
  'price_above_reward',
  'no_capacity',
  'no_provider',
  // Set by planMatches, never by chooseProvider: the job could run but a cap holds it back.
  'deferred',
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
  /** Counts against low_priority_cap_pct when 'low'; absent means 'normal'. */
  priority?: Priority | undefined;
  /** The task's CT percentage (its escrow's mix); only an offer with the same one takes it. Absent: 100. */
  feePctCt?: number | undefined;
  /** Providers that may not take it: a replica never runs where the result it checks came from. */
  excluded?: readonly string[] | undefined;
  /** A replica runs only on a provider whose runner for the type has this id. */
  runnerId?: string | null | undefined;
}

/**
 * A machine as matching sees it: its capability and, once it has offered, the CT percentage its
 * offer is paid in (absent: 100, all CPC). An offer is an ask in one payment mix, and a task's
 * escrow is held in one, so the two must agree (docs/decisions.md "CT/IT escrow").
 */
export type MatchCapability = Capability & { fee_pct_ct?: number | undefined };

export interface Provider {
  address: string;
  capability: MatchCapability;
  freeSlots: number;
  /** Null: the provider has posted no offer and takes no work. */
  pricePerUnit: bigint | null;
  freeUnits: number;
  /** Current (decayed) reputation score; absent means a new provider, 0. */
  reputation?: number | undefined;
}

/**
 * The `result` label of scheduler_match_total and the scheduler_stats key a non-match counts
 * under, as the spec names them: a provider without enough GPU memory is a capability mismatch
 * ("GPU Memory Matching"); the waiting reason keeps the finer name for the customer.
 */
export function matchResult(reason: NoMatchReason): NoMatchReason {
  return reason === 'insufficient_gpu_memory' ? 'capability_mismatch' : reason;
}
