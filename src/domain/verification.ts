// Verification: how the market checks the work it pays for (docs/decisions.md "Verification").
//
// Each challenge type has a way to be checked, decided from the job and the runner that ran it:
//
//   market     the market computes the answer itself: transcode and gpuhash run by the reference
//              runner (a slice's proof is BLAKE3 of its bytes), synthetic work up to
//              market_check_max_muladds (bit-exact integer arithmetic)
//   replicate  another provider with the same runner re-runs the job and the results must agree:
//              the other byte and synthetic work, inference at temperature 0 (any temperature on
//              the embedded llama.cpp runner, whose sampler is seeded from the job), and
//              rendering and training when the provider's runner declares itself deterministic
//   none       nothing can re-derive the answer (sampling, a non-deterministic renderer or
//              trainer): the result is accepted; the customer's dispute is the remedy
//
// A job is checked in full when it is drawn: always while its provider is on probation, then at a
// rate that falls with reputation from verify_rate_max to verify_rate_min. A byte job not drawn
// may still get a canary: one of its slices, chosen at random, checked by the market at
// canary_rate. Draws are keyed by the market's secret, so a worker can neither predict nor see
// them: a replica is an ordinary job message.
//
// Two results that differ go to a third provider; the answer two agree on is accepted, and a
// provider whose result is in the minority is a fraud. No majority after
// verification_max_results results fails the job.

import { blake3 } from '@noble/hashes/blake3.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import { REPUTATION_MAX, type SchedulerParams } from './scheduler-params.js';

export const VERIFICATION_STATUSES = ['pending', 'verified', 'sampled_out', 'disputed', 'failed'] as const;
export type VerificationStatus = (typeof VERIFICATION_STATUSES)[number];

export const CHECK_METHODS = ['market', 'replicate', 'none'] as const;
export type CheckMethod = (typeof CHECK_METHODS)[number];

/** The runner id of the reference byte runner: a slice's proof is BLAKE3 of its bytes. */
export const REFERENCE_BYTE_RUNNER = 'blake3';
/** The verifier name recorded when the market checked a result itself. */
export const MARKET_VERIFIER = 'market';

/** What deciding how to check a job needs to know. */
export interface CheckSubject {
  challengeType: string;
  payload: Readonly<Record<string, unknown>>;
  /** The id the provider's runner for this type advertises (absent: none advertised). */
  runnerId?: string | undefined;
  /** True when the provider's runner for this type declares itself deterministic. */
  deterministic?: boolean | undefined;
}

/** The multiply-adds of a synthetic job (n³ × iterations), or Infinity when the payload lacks them. */
export function syntheticMuladds(payload: Readonly<Record<string, unknown>>): number {
  const n = payload.matrix_size;
  const it = payload.iterations;
  if (typeof n !== 'number' || typeof it !== 'number') return Infinity;
  return n * n * n * it;
}

/** How a job of this type, run by this runner, can be checked. */
export function checkMethod(s: CheckSubject, params: SchedulerParams): CheckMethod {
  switch (s.challengeType) {
    case 'transcode':
    case 'gpuhash':
      return s.runnerId === undefined || s.runnerId === REFERENCE_BYTE_RUNNER ? 'market' : 'replicate';
    case 'synthetic':
      return syntheticMuladds(s.payload) <= params.market_check_max_muladds ? 'market' : 'replicate';
    case 'inference':
      // Greedy decoding is reproducible on the same model; the embedded llama.cpp runner also
      // seeds its sampler from the job itself, so any temperature replays there.
      return (s.payload.temperature ?? 0) === 0 || s.runnerId === 'llama.cpp' ? 'replicate' : 'none';
    case 'rendering':
    case 'training':
      return s.deterministic === true ? 'replicate' : 'none';
    default:
      return 'none';
  }
}

/** A provider is on probation until it has this many verified results (fewer with a stake). */
export function probationJobs(staked: boolean, params: SchedulerParams): number {
  return staked ? Math.ceil(params.probation_jobs / 4) : params.probation_jobs;
}

export function onProbation(verifiedJobs: number, staked: boolean, params: SchedulerParams): boolean {
  return params.verification_enabled && verifiedJobs < probationJobs(staked, params);
}

/**
 * The share of a provider's jobs checked in full: all of them on probation, then from
 * verify_rate_max at reputation 0 (or below) down to verify_rate_min at the best reputation.
 */
export function verifyRate(score: number, probation: boolean, params: SchedulerParams): number {
  if (!params.verification_enabled) return 0;
  if (probation) return 1;
  const s = Math.min(REPUTATION_MAX, Math.max(0, score)) / REPUTATION_MAX;
  const rate = params.verify_rate_max - (params.verify_rate_max - params.verify_rate_min) * s;
  return Math.min(params.verify_rate_max, Math.max(params.verify_rate_min, rate));
}

/**
 * A number in [0, 1) drawn from the market's secret, the job and what the draw is for: the same
 * inputs give the same draw (a restarted node decides as before); without the secret it cannot be
 * predicted.
 */
export function draw(secret: Uint8Array, jobId: string, purpose: string): number {
  const h = blake3(utf8ToBytes(`${purpose} ${jobId}`), { key: secret, dkLen: 8 });
  // 53 bits of the keyed hash (21 high, 32 low), as a fraction.
  const hi = ((h[0] as number) << 13) | ((h[1] as number) << 5) | ((h[2] as number) >>> 3);
  const lo = ((h[3] as number) << 24) | ((h[4] as number) << 16) | ((h[5] as number) << 8) | (h[6] as number);
  return (hi * 2 ** 32 + (lo >>> 0)) / 2 ** 53;
}

/** A 32-byte key for `draw`, derived from any secret bytes the node keeps (its chain key). */
export function drawKey(secret: Uint8Array): Uint8Array {
  return blake3(secret, { context: utf8ToBytes('taskmarket verification draws v1') });
}

/** Which slice of a job the canary checks. */
export function canarySlice(secret: Uint8Array, jobId: string, slices: number): number {
  return Math.min(slices - 1, Math.floor(draw(secret, jobId, 'canary slice') * slices));
}

/** One delivered result: who delivered it and its hash. The primary's comes first. */
export interface Delivered {
  address: string;
  resultHash: string;
}

export type Verdict =
  /** `accepted` is the hash at least two agree on; `agreeing` delivered it, `minority` did not. */
  | { kind: 'accepted'; accepted: string; agreeing: string[]; minority: string[] }
  /** No two agree yet: one more independent result is needed. */
  | { kind: 'more' }
  /** verification_max_results results and still no two agree. */
  | { kind: 'failed'; minority: string[] };

/**
 * The verdict over the results delivered so far for one job: the answer with the most votes,
 * when at least two independent providers gave it and no other answer has as many.
 */
export function verdict(results: readonly Delivered[], maxResults: number): Verdict {
  const votes = new Map<string, string[]>();
  for (const r of results) {
    const v = votes.get(r.resultHash) ?? [];
    if (!v.includes(r.address)) v.push(r.address);
    votes.set(r.resultHash, v);
  }
  const ranked = [...votes].sort((a, b) => b[1].length - a[1].length);
  const [top, second] = ranked;
  if (top && top[1].length >= 2 && (!second || second[1].length < top[1].length)) {
    const [accepted, agreeing] = top;
    const minority = results.filter((r) => r.resultHash !== accepted).map((r) => r.address);
    return { kind: 'accepted', accepted, agreeing, minority: [...new Set(minority)] };
  }
  if (results.length >= maxResults)
    return { kind: 'failed', minority: [...new Set(results.map((r) => r.address))] };
  return { kind: 'more' };
}

/** Two independent providers that call a payload invalid end the job; one claim is checked (verification on). */
export function claimsAgree(claims: readonly string[], params: SchedulerParams): boolean {
  // With verification off a provider's word is taken, as before it existed.
  return new Set(claims).size >= (params.verification_enabled ? params.failure_claims_needed : 1);
}

/**
 * How the validators' share of a verified job is paid: divided equally between the providers
 * that verified it, the few base units left over one each to the first ones; a share with no
 * provider verifier (the market checked, or nothing was drawn) stays with the validators.
 */
export function verifierShares(amount: bigint, verifiers: readonly string[]): Map<string, bigint> {
  const paid = verifiers.filter((v) => v !== MARKET_VERIFIER);
  const out = new Map<string, bigint>();
  if (paid.length === 0 || amount <= 0n) return out;
  const each = amount / BigInt(paid.length);
  let left = amount - each * BigInt(paid.length);
  for (const v of paid) {
    const extra = left > 0n ? 1n : 0n;
    left -= extra;
    out.set(v, (out.get(v) ?? 0n) + each + extra);
  }
  return out;
}

/** Challenge types a provider on probation rests after a failure, and until when. */
export function withCooldown(
  cooldowns: Readonly<Record<string, number>>,
  challengeType: string,
  nowMs: number,
  params: SchedulerParams,
): Record<string, number> {
  return { ...cooldowns, [challengeType]: nowMs + params.probation_cooldown_secs * 1000 };
}

/** The types still resting at `nowMs`. */
export function restingTypes(cooldowns: Readonly<Record<string, number>>, nowMs: number): Set<string> {
  return new Set(Object.entries(cooldowns).flatMap(([t, until]) => (until > nowMs ? [t] : [])));
}

/** What a provider has shown of its work: the basis of probation and of what its claims count for. */
export interface ShownWork {
  verifiedJobs: number;
  /** Units and milliseconds of its verified results. */
  verifiedUnits: number;
  verifiedMs: number;
  staked: boolean;
  fraud: boolean;
}

/** A provider the market has seen nothing of. */
export const NEW_PROVIDER: ShownWork = Object.freeze({
  verifiedJobs: 0,
  verifiedUnits: 0,
  verifiedMs: 0,
  staked: false,
  fraud: false,
});

/** Units per second its verified work ran at; null before it has any. */
export function measuredRate(w: ShownWork): number | null {
  return w.verifiedMs > 0 && w.verifiedUnits > 0 ? (w.verifiedUnits * 1000) / w.verifiedMs : null;
}

/**
 * What an offer counts toward admission capacity: nothing from a provider caught cheating; at most
 * probation_units from one on probation or with no measured work yet (enough for a market of new
 * providers to admit the work that gets them verified, too little for one claim to matter); past
 * probation, its advertised units up to capacity_claim_factor times the rate its verified work
 * has shown. With verification off, the offer as advertised.
 */
export function creditedUnits(advertised: number, w: ShownWork, params: SchedulerParams): number {
  if (!params.verification_enabled) return advertised;
  if (w.fraud) return 0;
  const rate = measuredRate(w);
  if (rate === null || onProbation(w.verifiedJobs, w.staked, params))
    return Math.min(advertised, params.probation_units);
  return Math.min(
    advertised,
    Math.max(params.probation_units, Math.floor(params.capacity_claim_factor * rate)),
  );
}

export const HARDWARE_STANDINGS = ['claimed', 'verified', 'implausible'] as const;
export type HardwareStanding = (typeof HARDWARE_STANDINGS)[number];

/**
 * How far a provider's hardware claim is borne out: `verified` once it is past probation with
 * measured work, `implausible` when it claims GPUs but its verified work runs below
 * gpu_min_units_per_s (CPU-class), `claimed` otherwise.
 */
export function hardwareStanding(gpuCount: number, w: ShownWork, params: SchedulerParams): HardwareStanding {
  const rate = measuredRate(w);
  if (gpuCount > 0 && params.gpu_min_units_per_s > 0 && rate !== null && rate < params.gpu_min_units_per_s)
    return 'implausible';
  if (!w.fraud && rate !== null && !onProbation(w.verifiedJobs, w.staked, params)) return 'verified';
  return 'claimed';
}

/**
 * A customer's dispute of a result the market accepted unchecked: an `audit` re-checks work that
 * can be re-derived (a replica, then the usual verdict); work nothing can re-derive is `recorded`
 * against its provider (docs/decisions.md "Verification").
 */
export type DisputeKind = 'audit' | 'recorded';
export const DISPUTE_STATUSES = ['open', 'upheld', 'rejected', 'unresolved', 'recorded'] as const;
export type DisputeStatus = (typeof DISPUTE_STATUSES)[number];

export function disputeKind(method: CheckMethod): DisputeKind {
  return method === 'none' ? 'recorded' : 'audit';
}

export type DisputeProblem =
  'task_not_completed' | 'dispute_window_closed' | 'already_verified' | 'already_checking';

/** Why a job's result cannot be disputed now, or null when it can. */
export function disputeProblem(
  task: { status: string; completedAtMs: number | null },
  job: { verification: VerificationStatus | null },
  nowMs: number,
  params: Pick<SchedulerParams, 'dispute_window_secs'>,
): DisputeProblem | null {
  if (task.status !== 'completed' || task.completedAtMs === null) return 'task_not_completed';
  if (nowMs > task.completedAtMs + params.dispute_window_secs * 1000) return 'dispute_window_closed';
  if (job.verification === 'verified') return 'already_verified';
  if (job.verification === 'pending' || job.verification === 'disputed') return 'already_checking';
  return null;
}
