// The worker protocol (WebSocket, JSON, one message per frame, each with a `type`).
//
//   market ──challenge──▶ worker          on connect: a random challenge to sign
//   market ◀──hello────── worker          protocol version, key, address, signature, capability, free slots
//   market ──welcome────▶ worker          the address is proven; heartbeat and lease timings
//   market ◀──offer────── worker          units, price per unit, fee_pct_ct   ──▶ offer_accepted
//   market ──job────────▶ worker          only while the worker has free slots (credit flow control)
//   market ◀──heartbeat── worker          free slots and running jobs: extends their leases
//   market ◀──progress─── worker          slices done / total
//   market ◀──job_result─ worker          signed result ──▶ result_accepted | error
//   market ◀──job_results worker          results finished together, one signature over the
//                                         Merkle root of their (job, result hash) leaves
//                                         ──▶ results_accepted, and an error per refused job
//   market ◀──job_failed─ worker          the runner could not do it
//   market ──cancel─────▶ worker          stop a job (customer cancel, lease lost, preempted)
//   market ──error──────▶ worker          a rejected message; fatal ones also close the socket
//   market ──notice─────▶ worker          news about the provider (a type resting, fraud found)
//
// The core messages are the spec's {"type":"job","job_id","task_id","payload"} and
// {"type":"job_result","job_id","worker_address","result_hash","proof"}.

import { Type, type Static } from '@sinclair/typebox';
import { Amount, Strict, StringEnum, Uuid } from './common.js';
import { Capability } from './capability.js';
import type { CHALLENGE_TYPES } from './payloads.js';

export const PROTOCOL_VERSION = 1;
/** The largest frame either side accepts; results with artifacts inline are the big ones. */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** WebSocket close codes the gateway uses, each with its reason text. */
export const CLOSE = {
  protocol_error: 4000,
  auth_failed: 4001,
  unsupported_version: 4002,
  hello_timeout: 4003,
  replaced: 4004,
  flood: 4008,
  shutting_down: 4010,
} as const;

const Hex32 = Type.String({ pattern: '^[0-9a-f]{64}$', description: '32 bytes, lowercase hex' });
const PublicKey = Type.String({
  pattern: '^0[23][0-9a-f]{64}$',
  description: 'compressed secp256k1 key, hex',
});
const Signature = Type.String({
  pattern: '^[0-9a-f]{128}$',
  description: 'compact r||s secp256k1 signature, hex',
});
const Address = Type.String({
  pattern: '^cpc1[02-9ac-hj-np-z]{6,90}$',
  description: 'a cpc1… bech32 address',
});
const Slots = Type.Integer({ minimum: 0, maximum: 1024 });

/** What a worker signs to prove its address: the challenge, bound to this protocol. */
export function helloMessage(challenge: string): string {
  return `taskmarket hello v${PROTOCOL_VERSION} ${challenge}`;
}

/**
 * What a worker signs for a batch of results: the Merkle root of one leaf per result,
 * BLAKE3(resultLeafText(job_id, result_hash)), in the batch's order (src/domain/result-batch.ts).
 */
export function resultsMessage(batchRoot: string): string {
  return `taskmarket job_results v${PROTOCOL_VERSION} ${batchRoot}`;
}

/** What a worker signs for a result: the job and the Merkle root of its slice proofs. */
export function resultMessage(jobId: string, resultHash: string): string {
  return `taskmarket job_result v${PROTOCOL_VERSION} ${jobId} ${resultHash}`;
}

// ─── worker → market ───────────────────────────────────────────────────────────────────────

export const Hello = Strict({
  type: Type.Literal('hello'),
  protocol_version: Type.Integer({ minimum: 0, maximum: 1000 }),
  public_key: PublicKey,
  address: Address,
  signature: Signature,
  capability: Capability,
  free_slots: Slots,
  agent: Type.Optional(Type.String({ maxLength: 100 })),
});

export const Offer = Strict({
  type: Type.Literal('offer'),
  units: Type.Integer({ minimum: 1, maximum: 1_000_000_000 }),
  price_per_unit: Amount,
  fee_pct_ct: Type.Integer({ minimum: 0, maximum: 100 }),
  reputation_score: Type.Optional(
    Type.Integer({
      minimum: -1000,
      maximum: 1000,
      description:
        "the score a new provider's reputation starts from (spec), taken only up to probation_score_cap",
    }),
  ),
});

export const Heartbeat = Strict({
  type: Type.Literal('heartbeat'),
  free_slots: Slots,
  jobs: Type.Array(Uuid, { maxItems: 1024, uniqueItems: true }),
});

export const Progress = Strict({
  type: Type.Literal('progress'),
  job_id: Uuid,
  slices_done: Type.Integer({ minimum: 0 }),
  slices_total: Type.Integer({ minimum: 1 }),
});

export const Artifact = Strict({
  name: Type.String({ minLength: 1, maxLength: 255, pattern: '^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$' }),
  data: Type.String({ pattern: '^[A-Za-z0-9+/]*={0,2}$', description: 'file bytes, base64' }),
});

export const JobResult = Strict({
  type: Type.Literal('job_result'),
  job_id: Uuid,
  worker_address: Address,
  result_hash: Hex32,
  /** The slice proofs, in slice order; result_hash is their Merkle root. */
  proof: Type.Array(Hex32, { minItems: 1, maxItems: 100_000 }),
  signature: Signature,
  output: Type.Optional(
    Strict({
      text: Type.Optional(Type.String({ maxLength: 4_000_000 })),
      artifacts: Type.Optional(Type.Array(Artifact, { maxItems: 1000 })),
    }),
  ),
});

/** One result in a job_results batch: a job_result without the per-job signature. */
export const BatchedResult = Strict({
  job_id: Uuid,
  result_hash: Hex32,
  proof: Type.Array(Hex32, { minItems: 1, maxItems: 100_000 }),
  output: Type.Optional(
    Strict({
      text: Type.Optional(Type.String({ maxLength: 4_000_000 })),
      artifacts: Type.Optional(Type.Array(Artifact, { maxItems: 1000 })),
    }),
  ),
});

/** Results that finished together, signed once: one signature and one message for many jobs. */
export const JobResults = Strict({
  type: Type.Literal('job_results'),
  worker_address: Address,
  /** The Merkle root of the results' leaves, in order; the signature covers it. */
  batch_root: Hex32,
  signature: Signature,
  results: Type.Array(BatchedResult, { minItems: 1, maxItems: 1024 }),
});

export const JOB_FAILURE_REASONS = [
  'unsupported',
  'invalid_payload',
  'runner_error',
  'timeout',
  'input_unavailable',
  'shutdown',
] as const;

export const JobFailed = Strict({
  type: Type.Literal('job_failed'),
  job_id: Uuid,
  reason: StringEnum(JOB_FAILURE_REASONS),
  message: Type.String({ maxLength: 2000 }),
});

export const WorkerMessage = Type.Union([
  Hello,
  Offer,
  Heartbeat,
  Progress,
  JobResult,
  JobResults,
  JobFailed,
]);

export type Hello = Static<typeof Hello>;
export type Offer = Static<typeof Offer>;
export type Heartbeat = Static<typeof Heartbeat>;
export type Progress = Static<typeof Progress>;
export type JobResult = Static<typeof JobResult>;
export type JobFailed = Static<typeof JobFailed>;
export type BatchedResult = Static<typeof BatchedResult>;
export type JobResults = Static<typeof JobResults>;
export type Artifact = Static<typeof Artifact>;
export type WorkerMessage = Static<typeof WorkerMessage>;

/** Message schemas by type, so the gateway validates only the branch a message names. */
export const WORKER_MESSAGES = {
  hello: Hello,
  offer: Offer,
  heartbeat: Heartbeat,
  progress: Progress,
  job_result: JobResult,
  job_results: JobResults,
  job_failed: JobFailed,
} as const;

// ─── market → worker ───────────────────────────────────────────────────────────────────────

export const SliceSpec = Type.Union([
  Strict({
    index: Type.Integer(),
    units: Type.Integer(),
    kind: Type.Literal('bytes'),
    start: Type.Integer(),
    end: Type.Integer(),
  }),
  Strict({
    index: Type.Integer(),
    units: Type.Integer(),
    kind: Type.Literal('frame'),
    frame: Type.Integer(),
  }),
  Strict({ index: Type.Integer(), units: Type.Integer(), kind: Type.Literal('whole') }),
]);

export interface ChallengeMsg {
  type: 'challenge';
  protocol_version: number;
  challenge: string;
}

export interface WelcomeMsg {
  type: 'welcome';
  worker_address: string;
  heartbeat_interval_ms: number;
  lease_ms: number;
}

export interface OfferAcceptedMsg {
  type: 'offer_accepted';
  offer_id: string;
}

export interface JobMsg {
  type: 'job';
  job_id: string;
  task_id: string;
  challenge_type: (typeof CHALLENGE_TYPES)[number];
  payload: Record<string, unknown>;
  slices: Static<typeof SliceSpec>[];
  units: number;
  /** Unix ms; heartbeats listing the job push it forward. */
  lease_expires_at: number;
  /** transcode/gpuhash: the job's input bytes, base64 (slices index into them). */
  input?: string;
}

export interface CancelMsg {
  type: 'cancel';
  job_id: string;
  reason: string;
}

export interface ResultAcceptedMsg {
  type: 'result_accepted';
  job_id: string;
}

export interface ResultsAcceptedMsg {
  type: 'results_accepted';
  job_ids: string[];
}

export interface ErrorMsg {
  type: 'error';
  code: string;
  message: string;
  job_id?: string;
}

/**
 * Something the provider should know that is not about one message it sent: a challenge type
 * resting after a failure on probation, a result proved wrong. The worker logs it.
 */
export interface NoticeMsg {
  type: 'notice';
  code: string;
  message: string;
}

export type MarketMessage =
  | NoticeMsg
  | ChallengeMsg
  | WelcomeMsg
  | OfferAcceptedMsg
  | JobMsg
  | CancelMsg
  | ResultAcceptedMsg
  | ResultsAcceptedMsg
  | ErrorMsg;
