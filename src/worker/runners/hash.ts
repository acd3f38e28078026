// The byte-slice runner of `transcode` and `gpuhash` (spec/compute-market.md "Workload
// Formats"): the job carries its whole input (base64) and slices of kind `bytes` {start, end}.
//
// - Reference runner: a slice's proof is BLAKE3 of its bytes, hashed on the thread pool with the
//   input in one SharedArrayBuffer so no slice is copied. Not cached: the cache key would need
//   the same BLAKE3 pass over the bytes that the proof is.
// - With a provider command (e.g. ffmpeg): the slice bytes go to the command's stdin and the
//   proof is BLAKE3 of its stdout. Cached by the digest of the slice bytes.

import { blake3 } from '@noble/hashes/blake3.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { sliceCacheKey, type SliceCache } from '../cache.js';
import type { ThreadPool } from '../pool.js';
import { runCommand } from './process.js';
import { runSlices } from './slices.js';
import { JobFailure, type JobMsg, type Runner, type Slice } from './types.js';

export interface ExternalCommand {
  argv: readonly string[];
  timeoutMs: number;
  /** stdout past this kills the command. */
  maxOutputBytes: number;
  /** Added to the command's environment (the self-test sets TASKMARKET_SELF_TEST=1). */
  env?: Readonly<Record<string, string>>;
}

export interface HashRunnerOptions {
  pool: ThreadPool;
  cache: SliceCache | null;
  /** Slices in flight at once for the reference runner (normally the pool's size). */
  concurrency: number;
  command?: ExternalCommand;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export function hashRunner(opts: HashRunnerOptions): Runner {
  return async (job, ctx) => {
    const input = jobInput(job);
    for (const slice of job.slices) byteRange(slice, input.length);
    const bytesOf = (slice: Slice) => {
      const { start, end } = byteRange(slice, input.length);
      return input.subarray(start, end);
    };
    const command = opts.command;
    const outcomes = command
      ? // One command per slice at a time: an external transcoder is usually multi-threaded itself.
        await runSlices(job.slices, 1, ctx, async (slice) => {
          const data = bytesOf(slice);
          const digest = await opts.pool.run({ op: 'blake3', data }, { signal: ctx.signal });
          const compute = async () => ({ proof: await commandProof(command, data, ctx.signal) });
          if (!opts.cache) return compute();
          const key = sliceCacheKey(job.challenge_type, withoutInput(job.payload), slice, digest);
          return opts.cache.through(key, compute);
        })
      : await runSlices(job.slices, opts.concurrency, ctx, async (slice) => ({
          proof: await opts.pool.run({ op: 'blake3', data: bytesOf(slice) }, { signal: ctx.signal }),
        }));
    return { proofs: outcomes.map((o) => o.proof) };
  };
}

/** The job's input bytes in shared memory, from the job message or else the inline payload. */
function jobInput(job: JobMsg): Uint8Array {
  const b64 = job.input ?? (typeof job.payload.input === 'string' ? job.payload.input : undefined);
  // The market moves a blob's bytes into `input`; a job without them cannot be run here.
  if (b64 === undefined) {
    const blob = typeof job.payload.input_blob === 'string' ? ` of blob ${job.payload.input_blob}` : '';
    throw new JobFailure('input_unavailable', `the job did not carry its input bytes${blob}`);
  }
  if (b64.length % 4 !== 0 || !BASE64.test(b64))
    throw new JobFailure('invalid_payload', 'the job input is not padded base64');
  const decoded = Buffer.from(b64, 'base64');
  const shared = new Uint8Array(new SharedArrayBuffer(decoded.length));
  shared.set(decoded);
  return shared;
}

function byteRange(slice: Slice, length: number): { start: number; end: number } {
  if (slice.kind !== 'bytes')
    throw new JobFailure('invalid_payload', `slice ${slice.index} is of kind ${slice.kind}, not bytes`);
  const { start, end } = slice;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || end > length)
    throw new JobFailure(
      'invalid_payload',
      `slice ${slice.index} [${start}, ${end}) is outside the ${length}-byte input`,
    );
  return { start, end };
}

/** The payload without its inline bytes: the slice's own digest stands for them in the key. */
function withoutInput(payload: Record<string, unknown>): Record<string, unknown> {
  const { input: _input, ...rest } = payload;
  return rest;
}

async function commandProof(
  command: ExternalCommand,
  data: Uint8Array,
  signal: AbortSignal,
): Promise<string> {
  const hasher = blake3.create();
  await runCommand({
    argv: command.argv,
    stdin: data,
    ...(command.env ? { env: { ...process.env, ...command.env } } : {}),
    timeoutMs: command.timeoutMs,
    maxStdoutBytes: command.maxOutputBytes,
    onStdout: (chunk) => hasher.update(chunk),
    signal,
  });
  return bytesToHex(hasher.digest());
}
