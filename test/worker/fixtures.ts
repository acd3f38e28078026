// Builders shared by the worker tests: job messages as the market sends them, deterministic
// input bytes, and a runner call that records its slice reports.

import { randomUUID } from 'node:crypto';
import type { ChallengeType } from '../../src/domain/schemas/payloads.js';
import type { JobMsg } from '../../src/domain/schemas/worker.js';
import { planJobs, type SlicePlan } from '../../src/domain/work.js';
import type { Runner, RunnerResult } from '../../src/worker/runners/types.js';

export function job(
  challengeType: ChallengeType,
  payload: Record<string, unknown>,
  slices: SlicePlan[],
  extra: Partial<JobMsg> = {},
): JobMsg {
  return {
    type: 'job',
    job_id: randomUUID(),
    task_id: randomUUID(),
    challenge_type: challengeType,
    payload,
    slices,
    units: slices.reduce((n, s) => n + s.units, 0),
    lease_expires_at: 0,
    ...extra,
  };
}

/**
 * A byte job over `input` as the market sends it: split into 1 MiB slices, the bytes in the
 * job's `input`, and the payload without them.
 */
export function bytesJob(input: Uint8Array, type: 'transcode' | 'gpuhash' = 'transcode'): JobMsg {
  const slices = planJobs(type, { input_bytes: input.length })[0]!.slices;
  return job(type, {}, slices, { input: Buffer.from(input).toString('base64') });
}

export function syntheticJob(params: { seed: string; matrix_size: number; iterations: number }): JobMsg {
  return job('synthetic', params, [{ index: 0, units: 1, kind: 'whole' }]);
}

/** Bytes from a simple LCG: deterministic, cheap, not all equal. */
export function bytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

export interface Recorded extends RunnerResult {
  reported: [number, string][];
}

export async function run(
  runner: Runner,
  msg: JobMsg,
  signal = new AbortController().signal,
): Promise<Recorded> {
  const reported: [number, string][] = [];
  const result = await runner(msg, { signal, onSliceDone: (i, p) => reported.push([i, p]) });
  return { ...result, reported };
}
