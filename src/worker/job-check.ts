// Checks a job before any runner sees it, so a job the agent cannot or must not run is refused
// at once with the right reason instead of failing half-way: `unsupported` for a type without a
// runner, `invalid_payload` for a payload outside its schema or slices that do not fit the type.

import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { TSchema } from '@sinclair/typebox';
import {
  CHALLENGE_TYPES,
  PAYLOAD_SCHEMAS,
  payloadProblems,
  type ChallengeType,
} from '../domain/schemas/payloads.js';
import type { RunnerSet } from './runners/registry.js';
import { JobFailure, type JobMsg, type Slice } from './runners/types.js';

const SLICE_KIND: Record<ChallengeType, Slice['kind']> = {
  transcode: 'bytes',
  gpuhash: 'bytes',
  rendering: 'frame',
  inference: 'whole',
  training: 'whole',
  synthetic: 'whole',
};

const checks = new Map<ChallengeType, TypeCheck<TSchema>>();

function payloadCheck(type: ChallengeType): TypeCheck<TSchema> {
  let check = checks.get(type);
  if (!check) {
    check = TypeCompiler.Compile(PAYLOAD_SCHEMAS[type]);
    checks.set(type, check);
  }
  return check;
}

/**
 * Byte jobs: the market moves the input out of the payload into the job's `input` (inline bytes
 * and blobs alike), so the payload may be empty; the hash runner finds the bytes. All a payload
 * may still hold is `input` or `input_blob`.
 */
function checkBytesPayload(payload: Record<string, unknown>): void {
  const extra = Object.keys(payload).find((k) => k !== 'input' && k !== 'input_blob');
  if (extra !== undefined) throw new JobFailure('invalid_payload', `payload/${extra}: unexpected property`);
  for (const k of ['input', 'input_blob'] as const)
    if (payload[k] !== undefined && typeof payload[k] !== 'string')
      throw new JobFailure('invalid_payload', `payload/${k}: must be a string`);
}

/** The job with its slices in index order, or a JobFailure saying why it cannot run. */
export function checkJob(job: JobMsg, runners: RunnerSet): JobMsg {
  const type = job.challenge_type;
  if (!(CHALLENGE_TYPES as readonly string[]).includes(type))
    throw new JobFailure('unsupported', `unknown challenge type ${JSON.stringify(type)}`);
  if (!runners[type]) throw new JobFailure('unsupported', `this worker has no runner for ${type}`);
  if (type === 'transcode' || type === 'gpuhash') checkBytesPayload(job.payload);
  else {
    // Errors() walks the whole payload to describe it; only a payload that fails needs that.
    const check = payloadCheck(type);
    const first = check.Check(job.payload) ? undefined : check.Errors(job.payload).First();
    if (first) throw new JobFailure('invalid_payload', `payload${first.path}: ${first.message}`);
  }
  const problem = payloadProblems(type, job.payload)[0];
  if (problem)
    throw new JobFailure('invalid_payload', `${problem[0].replace('/payload', 'payload')}: ${problem[1]}`);
  const slices = [...job.slices].sort((a, b) => a.index - b.index);
  slices.forEach((s, i) => {
    if (s.index !== i)
      throw new JobFailure('invalid_payload', `slice indexes must be 0..${slices.length - 1}`);
    if (s.kind !== SLICE_KIND[type])
      throw new JobFailure(
        'invalid_payload',
        `${type} slices are of kind ${SLICE_KIND[type]}, not ${s.kind}`,
      );
  });
  if (slices.length === 0) throw new JobFailure('invalid_payload', 'the job has no slices');
  return { ...job, slices };
}
