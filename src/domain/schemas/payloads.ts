// Payload schemas, one per challenge type: the four of spec/task-market.md plus transcode and
// gpuhash of spec/compute-market.md, whose input bytes come inline (base64) or as a blob hash.

import { Type, type Static } from '@sinclair/typebox';
import { CHALLENGE_TYPES, MAX_INLINE_INPUT_BASE64, type ChallengeType } from '../challenge-types.js';
import { Strict } from './common.js';

export { CHALLENGE_TYPES, MAX_INLINE_INPUT_BASE64, type ChallengeType };

/** Remote inputs: only schemes a provider can fetch; never file:, data: or javascript:. */
const RemoteUrl = Type.String({
  pattern: '^(https?|s3|gs|ipfs)://[^\\s]+$',
  maxLength: 2048,
  description: 'an https://, http://, s3://, gs:// or ipfs:// URL',
});

const BlobHash = Type.String({
  pattern: '^[0-9a-f]{64}$',
  description: 'BLAKE3 hash of an uploaded blob (hex)',
});

const Base64 = Type.String({
  pattern: '^[A-Za-z0-9+/]*={0,2}$',
  maxLength: MAX_INLINE_INPUT_BASE64,
  description: 'input bytes, base64',
});

export const InferencePayload = Strict({
  model_id: Type.String({ minLength: 1, maxLength: 256, pattern: '^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$' }),
  prompt: Type.String({ minLength: 1, maxLength: 200_000 }),
  max_tokens: Type.Integer({ minimum: 1, maximum: 131_072 }),
  temperature: Type.Optional(Type.Number({ minimum: 0, maximum: 2 })),
});

export const TrainingPayload = Strict({
  model_architecture: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._/-]*$' }),
  dataset_url: RemoteUrl,
  epochs: Type.Integer({ minimum: 1, maximum: 10_000 }),
  batch_size: Type.Integer({ minimum: 1, maximum: 65_536 }),
});

export const MAX_RESOLUTION_SIDE = 16_384;

export const RenderingPayload = Strict({
  scene_file: RemoteUrl,
  resolution: Type.String({
    pattern: '^[1-9][0-9]{0,4}x[1-9][0-9]{0,4}$',
    description: `WIDTHxHEIGHT, each side at most ${MAX_RESOLUTION_SIDE}`,
    examples: ['1920x1080'],
  }),
  frames: Type.Integer({ minimum: 1, maximum: 100_000 }),
});

export const SyntheticPayload = Strict({
  seed: Type.String({ pattern: '^([0-9a-f]{2}){1,64}$', description: 'lowercase hex, 1 to 64 bytes' }),
  matrix_size: Type.Integer({ minimum: 1, maximum: 8192 }),
  iterations: Type.Integer({ minimum: 1, maximum: 100_000 }),
});

/** Raw bytes to hash or transcode: exactly one of `input` (inline) or `input_blob`. */
const BytesPayload = Strict(
  {
    input: Type.Optional(Base64),
    input_blob: Type.Optional(BlobHash),
  },
  { minProperties: 1, maxProperties: 1 },
);
export const TranscodePayload = BytesPayload;
export const GpuhashPayload = BytesPayload;

export const PAYLOAD_SCHEMAS = {
  inference: InferencePayload,
  training: TrainingPayload,
  rendering: RenderingPayload,
  synthetic: SyntheticPayload,
  transcode: TranscodePayload,
  gpuhash: GpuhashPayload,
} as const;

export type InferencePayload = Static<typeof InferencePayload>;
export type TrainingPayload = Static<typeof TrainingPayload>;
export type RenderingPayload = Static<typeof RenderingPayload>;
export type SyntheticPayload = Static<typeof SyntheticPayload>;
export type BytesPayload = Static<typeof BytesPayload>;

/** Checks a payload can beyond what a schema says; returns [path, message] problems. */
export function payloadProblems(type: ChallengeType, payload: Record<string, unknown>): [string, string][] {
  if (type === 'rendering') {
    const [w, h] = String(payload.resolution).split('x').map(Number);
    if ((w ?? 0) > MAX_RESOLUTION_SIDE || (h ?? 0) > MAX_RESOLUTION_SIDE)
      return [['/payload/resolution', `each side must be at most ${MAX_RESOLUTION_SIDE}`]];
  }
  if ((type === 'transcode' || type === 'gpuhash') && typeof payload.input === 'string') {
    if (payload.input.length % 4 !== 0) return [['/payload/input', 'must be padded base64']];
    if (payload.input.length === 0) return [['/payload/input', 'must not be empty']];
  }
  return [];
}
