// The scheduler's and admission's tunable parameters: one schema with each default and its bounds,
// named as spec/compute-market.md names them. An operator retunes them at runtime, so a change is
// validated here as a whole (cross-field rules included) before the next decision may use it.

import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parseAmount } from './money.js';
import { CHALLENGE_TYPES, type ChallengeType } from './schemas/payloads.js';

export const LANES = ['consumer', 'industrial'] as const;
export type Lane = (typeof LANES)[number];

/** The spec fixes the accelerator premium at 1.2×; it is a constant, not a tunable. */
export const ACCELERATOR_PREMIUM = 1.2;

/** Reputation scores are bounded so that one gossiped value can never dominate forever. */
export const REPUTATION_MIN = -1000;
export const REPUTATION_MAX = 1000;

const LaneSchema = Type.Union([Type.Literal('consumer'), Type.Literal('industrial')]);
const DEFAULT_LANES: Record<ChallengeType, Lane> = {
  inference: 'consumer',
  training: 'industrial',
  rendering: 'industrial',
  synthetic: 'industrial',
  transcode: 'industrial',
  gpuhash: 'industrial',
};

const Multiplier = (d: number, description: string) =>
  Type.Number({ default: d, minimum: 0.01, maximum: 10, description });
const Points = (d: number, description: string) =>
  Type.Integer({ default: d, minimum: 0, maximum: REPUTATION_MAX - REPUTATION_MIN, description });
const Seconds = (d: number, min: number, max: number, description: string) =>
  Type.Number({ default: d, minimum: min, maximum: max, description });

export const SchedulerParamsSchema = Type.Object(
  {
    reputation_multiplier_min: Multiplier(0.5, 'multiplier of the best reputation (1000)'),
    reputation_multiplier_max: Multiplier(1.0, 'multiplier of reputation 0 and below'),
    reputation_success_delta: Points(10, 'reputation gained by a verified completion'),
    reputation_failure_penalty: Points(50, 'reputation lost by a failed or rejected job'),
    reputation_provider_cancel_penalty: Points(25, 'reputation lost by a provider-side cancel'),
    reputation_dispute_penalty: Points(
      5,
      "reputation lost when a customer disputes a result nothing can re-derive (the customer's word alone)",
    ),
    reputation_lease_expiry_penalty: Points(25, 'reputation lost when a lease expires unheeded'),
    provider_reputation_decay: Type.Number({
      default: 0.05,
      minimum: 0,
      exclusiveMaximum: 1,
      description: 'fraction of a score lost per hour, compounding, toward zero',
    }),
    provider_reputation_retention: Seconds(
      604_800,
      60,
      315_360_000,
      'an untouched entry is forgotten after this',
    ),
    reputation_gossip: Type.Boolean({ default: true, description: 'exchange scores with peers' }),
    enable_preempt: Type.Boolean({ default: false }),
    preempt_min_delta: Type.Integer({
      default: 100,
      minimum: 1,
      maximum: REPUTATION_MAX - REPUTATION_MIN,
      description: 'reputation lead a new provider needs to take over a running job',
    }),
    low_priority_cap_pct: Type.Integer({
      default: 80,
      minimum: 1,
      maximum: 100,
      description: 'share of all slots that running low-priority jobs may hold',
    }),
    aging_seconds_per_level: Seconds(30, 1, 86_400, 'waiting this long is worth one priority level'),
    priority_miss_seconds: Seconds(5, 0, 86_400, 'a non-low job waiting longer than this is a miss'),
    sla_bond_pct: Type.Integer({
      default: 0,
      minimum: 0,
      maximum: 100,
      description:
        'bond a provider posts from its account on each industrial job, as a percentage of the job price; slashed to the treasury when the task deadline passes while the job runs',
    }),
    admission_enabled: Type.Boolean({
      default: true,
      description: 'check industrial tasks against capacity, the comfort guard and fair share',
    }),
    min_capacity: Type.Number({ default: 10, minimum: 0, maximum: 1e12, description: 'units per second' }),
    fair_share_cap: Type.Number({ default: 0.25, exclusiveMinimum: 0, maximum: 1 }),
    burst_quota: Type.Number({ default: 30, minimum: 0, maximum: 1e12 }),
    burst_refill_rate: Type.Number({ default: 0.5, minimum: 0, maximum: 1e12, description: 'per second' }),
    usage_window_secs: Seconds(60, 1, 86_400, 'usage decays linearly to zero over this window'),
    comfort_threshold_p90: Type.String({
      default: '1.0',
      pattern: '^(0|[1-9][0-9]*)(\\.[0-9]+)?$',
      description: 'consumer-lane p90 price per unit (CPC) above which the market goes tight',
    }),
    consumer_age_limit_secs: Seconds(30, 1, 86_400, 'consumer queue age above which the market goes tight'),
    lane_of: Type.Object(
      Object.fromEntries(
        CHALLENGE_TYPES.map((t) => [t, Type.Union(LaneSchema.anyOf, { default: DEFAULT_LANES[t] })]),
      ) as Record<ChallengeType, typeof LaneSchema>,
      { default: {}, additionalProperties: false },
    ),
    price_board_window: Type.Integer({ default: 100, minimum: 1, maximum: 100_000 }),
    verification_enabled: Type.Boolean({
      default: true,
      description: 'check results before paying for them (src/domain/verification.ts)',
    }),
    verify_rate_max: Type.Number({
      default: 0.5,
      minimum: 0,
      maximum: 1,
      description: 'share of jobs checked in full for a provider past probation at reputation 0',
    }),
    verify_rate_min: Type.Number({
      default: 0.05,
      minimum: 0,
      maximum: 1,
      description: 'share of jobs checked in full for a provider at the best reputation',
    }),
    canary_rate: Type.Number({
      default: 0.25,
      minimum: 0,
      maximum: 1,
      description: 'share of unchecked byte jobs that get one slice checked by the market',
    }),
    probation_jobs: Type.Integer({
      default: 20,
      minimum: 0,
      maximum: 100_000,
      description: 'verified results a new provider needs before its jobs are only sampled',
    }),
    probation_slots: Type.Integer({
      default: 2,
      minimum: 1,
      maximum: 1024,
      description: 'jobs a provider on probation may run at once',
    }),
    probation_score_cap: Points(
      100,
      "the most of an offer's advertised reputation a new provider starts with",
    ),
    probation_cooldown_secs: Seconds(
      600,
      0,
      86_400,
      'a provider on probation whose runner failed a type is offered none of it for this long',
    ),
    dispute_window_secs: Seconds(
      86_400,
      0,
      2_592_000,
      'how long after a task completes its customer may dispute a result the market did not check',
    ),
    provider_stake_min: Type.String({
      default: '0',
      pattern: '^(0|[1-9][0-9]*)(\\.[0-9]+)?$',
      description: 'CPC a provider holds on its account to shorten probation to a quarter; "0": off',
    }),
    market_check_max_muladds: Type.Number({
      default: 50_000_000,
      minimum: 0,
      maximum: 1e15,
      description: 'the largest synthetic job (n³ × iterations) the market re-computes itself',
    }),
    verification_max_results: Type.Integer({
      default: 5,
      minimum: 3,
      maximum: 9,
      description: 'results gathered for one job before it fails for want of two that agree',
    }),
    probation_units: Type.Number({
      default: 10,
      minimum: 0,
      maximum: 1e12,
      description:
        'the most an offer counts toward admission capacity while its provider is on probation or has no measured work',
    }),
    capacity_claim_factor: Type.Number({
      default: 8,
      minimum: 1,
      maximum: 1e6,
      description:
        "an offer counts toward admission capacity up to this many times the units per second its provider's verified work has shown",
    }),
    gpu_min_units_per_s: Type.Number({
      default: 0,
      minimum: 0,
      maximum: 1e12,
      description:
        'a provider claiming GPUs whose verified work runs slower than this is treated as having none (0: off; the reference runners compute on the CPU)',
    }),
    failure_claims_needed: Type.Integer({
      default: 2,
      minimum: 1,
      maximum: 9,
      description: 'independent providers that must call a payload invalid before its job fails',
    }),
  },
  { additionalProperties: false },
);

export type SchedulerParams = Readonly<Omit<Static<typeof SchedulerParamsSchema>, 'lane_of'>> & {
  readonly lane_of: Readonly<Record<ChallengeType, Lane>>;
};

export interface ParamProblem {
  path: string;
  message: string;
}

export type ParamsResult = { ok: true; params: SchedulerParams } | { ok: false; problems: ParamProblem[] };

function deepFreeze<T extends object>(o: T): T {
  for (const v of Object.values(o)) if (v && typeof v === 'object') deepFreeze(v as object);
  return Object.freeze(o);
}

let defaults: SchedulerParams | undefined;

export function defaultParams(): SchedulerParams {
  defaults ??= deepFreeze(Value.Default(SchedulerParamsSchema, {}) as SchedulerParams);
  return defaults;
}

/**
 * Applies `patch` over `base` (the defaults, or the params now in force) and checks the result as
 * a whole. Unknown keys are problems, so a typo never silently does nothing; nothing is coerced,
 * since a runtime change arrives as JSON and should already have the right types.
 */
export function validateParams(patch: unknown, base: SchedulerParams = defaultParams()): ParamsResult {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch))
    return { ok: false, problems: [{ path: '', message: 'must be an object' }] };
  const p = patch as Record<string, unknown>;
  const laneOf = p.lane_of;
  const merged: Record<string, unknown> = { ...base, ...p };
  if (laneOf && typeof laneOf === 'object' && !Array.isArray(laneOf))
    merged.lane_of = { ...base.lane_of, ...laneOf };
  const problems: ParamProblem[] = [...Value.Errors(SchedulerParamsSchema, merged)].map((e) => ({
    path: e.path.slice(1),
    message: e.message,
  }));
  if (problems.length > 0) return { ok: false, problems };
  const params = merged as SchedulerParams;
  if (params.reputation_multiplier_min > params.reputation_multiplier_max)
    problems.push({
      path: 'reputation_multiplier_min',
      message: 'must not exceed reputation_multiplier_max',
    });
  if (!parseAmount(params.comfort_threshold_p90).ok)
    problems.push({
      path: 'comfort_threshold_p90',
      message: 'must be a CPC amount with at most 18 decimals',
    });
  if (params.verify_rate_min > params.verify_rate_max)
    problems.push({ path: 'verify_rate_min', message: 'must not exceed verify_rate_max' });
  if (!parseAmount(params.provider_stake_min).ok)
    problems.push({ path: 'provider_stake_min', message: 'must be a CPC amount with at most 18 decimals' });
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, params: deepFreeze(structuredClone(params)) };
}

/** The comfort threshold in base units per unit; validated params always parse. */
export function comfortThreshold(params: SchedulerParams): bigint {
  const parsed = parseAmount(params.comfort_threshold_p90);
  if (!parsed.ok)
    throw new RangeError(`comfort_threshold_p90 ${params.comfort_threshold_p90} is not an amount`);
  return parsed.value;
}

/** The admission budgets, in the shape `compute-market params` prints (spec "Querying Admission Parameters"). */
export function admissionParamsJson(params: SchedulerParams) {
  return {
    min_capacity: params.min_capacity,
    fair_share_cap: params.fair_share_cap,
    burst_quota: params.burst_quota,
    burst_refill_rate: params.burst_refill_rate,
  };
}

// Keys the spec prints as decimals: 30 must read "30.0", as in its example output.
const DECIMAL_KEYS = new Set([
  'fair_share_cap',
  'burst_quota',
  'burst_refill_rate',
  'reputation_multiplier_min',
  'reputation_multiplier_max',
  'provider_reputation_decay',
]);

/** JSON text of `obj` (two-space indent) with decimal parameters always written with a fraction. */
export function paramsJsonText(obj: object): string {
  return JSON.stringify(
    obj,
    (key, value: unknown) =>
      DECIMAL_KEYS.has(key) && typeof value === 'number' && Number.isInteger(value)
        ? `\u0000${value}.0\u0000`
        : value,
    2,
  ).replace(/"\\u0000(-?[0-9]+\.0)\\u0000"/g, '$1');
}
