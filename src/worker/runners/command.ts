// The external-command runner of `training` and `rendering`: the provider maps the challenge
// type to a command (argv, no shell) that does the real work. Each slice runs the command once,
// in a fresh working directory, with its inputs passed by environment:
//
//   TASKMARKET_PAYLOAD       path of the job payload, as JSON
//   TASKMARKET_OUTPUT_DIR    an empty directory; every file written there is an artifact
//   TASKMARKET_SLICE         the slice spec as JSON, e.g. {"index":0,"units":1,"kind":"frame","frame":7}
//   TASKMARKET_FRAME         rendering: the frame number
//   TASKMARKET_JOB_ID, TASKMARKET_TASK_ID, TASKMARKET_CHALLENGE_TYPE
//   TASKMARKET_SELF_TEST     "1" when the job is the worker's self-test (self-test.ts): a
//                            command that cannot do real work on its made-up payload checks
//                            itself quickly instead and still writes a file
//
// Rendering jobs have one `frame` slice per frame, run one after another (a job holds one slot,
// so one GPU's worth of work); their artifacts are named `frame-<n>/<path>`. Training has one
// `whole` slice and its artifacts keep their own paths. A slice's proof is BLAKE3 over the
// sorted listing of its files (runners/artifacts.ts). The directory is removed afterwards.

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Artifact } from '../../domain/schemas/worker.js';
import { sliceCacheKey, type SliceCache } from '../cache.js';
import type { ThreadPool } from '../pool.js';
import { collectOutput, dirBytes, outputProof } from './artifacts.js';
import { runCommand } from './process.js';
import { runSlices } from './slices.js';
import { JobFailure, type JobMsg, type Runner, type Slice } from './types.js';

export interface CommandRunnerOptions {
  argv: readonly string[];
  /** Per run of the command, i.e. per slice. */
  timeoutMs: number;
  /** Output files of the whole job, in bytes; the result must fit one protocol message. */
  maxOutputBytes: number;
  pool: ThreadPool;
  cache: SliceCache | null;
  /** Where working directories are made; the OS temp directory by default. */
  workRoot?: string;
  /** How often the output directory is measured while the command runs. */
  watchIntervalMs?: number;
  /** Added to the command's environment (the self-test sets TASKMARKET_SELF_TEST=1). */
  env?: Readonly<Record<string, string>>;
}

export function commandRunner(opts: CommandRunnerOptions): Runner {
  return async (job, ctx) => {
    const workDir = await mkdtemp(join(opts.workRoot ?? tmpdir(), 'taskmarket-job-'));
    try {
      const payloadPath = join(workDir, 'payload.json');
      await writeFile(payloadPath, JSON.stringify(job.payload));
      let budget = opts.maxOutputBytes;
      const artifacts: Artifact[] = [];
      const outcomes = await runSlices(job.slices, 1, ctx, async (slice) => {
        const compute = () => runSlice(job, slice, payloadPath, workDir, budget, opts, ctx.signal);
        const key = sliceCacheKey(job.challenge_type, job.payload, sliceIdentity(slice), null);
        const out = opts.cache ? await opts.cache.through(key, compute) : await compute();
        const files = out.output?.artifacts ?? [];
        for (const f of files) {
          budget -= Buffer.byteLength(f.data, 'base64');
          artifacts.push({
            name: slice.kind === 'frame' ? `frame-${slice.frame}/${f.name}` : f.name,
            data: f.data,
          });
        }
        if (budget < 0)
          throw new JobFailure(
            'runner_error',
            `the job's output is larger than ${opts.maxOutputBytes} bytes`,
          );
        return out;
      });
      return { proofs: outcomes.map((o) => o.proof), output: { artifacts } };
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  };
}

async function runSlice(
  job: JobMsg,
  slice: Slice,
  payloadPath: string,
  workDir: string,
  budget: number,
  opts: CommandRunnerOptions,
  signal: AbortSignal,
) {
  if (job.challenge_type === 'rendering' && slice.kind !== 'frame')
    throw new JobFailure('invalid_payload', `rendering slices are frames, not ${slice.kind}`);
  const sliceDir = join(workDir, `slice-${slice.index}`);
  const outDir = join(sliceDir, 'out');
  await mkdir(outDir, { recursive: true });
  await runCommand({
    argv: opts.argv,
    cwd: sliceDir,
    env: {
      ...process.env,
      ...opts.env,
      TASKMARKET_PAYLOAD: payloadPath,
      TASKMARKET_OUTPUT_DIR: outDir,
      TASKMARKET_SLICE: JSON.stringify(slice),
      ...(slice.kind === 'frame' ? { TASKMARKET_FRAME: String(slice.frame) } : {}),
      TASKMARKET_JOB_ID: job.job_id,
      TASKMARKET_TASK_ID: job.task_id,
      TASKMARKET_CHALLENGE_TYPE: job.challenge_type,
    },
    timeoutMs: opts.timeoutMs,
    // stdout is only logged by the command for its operator; it is not the result.
    maxStdoutBytes: budget + 1024 * 1024,
    signal,
    watchdog: {
      intervalMs: opts.watchIntervalMs ?? 1000,
      check: async () =>
        (await dirBytes(outDir)) > budget
          ? `the command wrote more than ${opts.maxOutputBytes} bytes of output`
          : null,
    },
  });
  const files = await collectOutput(outDir, budget);
  if (files.length === 0)
    throw new JobFailure('runner_error', 'the command wrote no files to TASKMARKET_OUTPUT_DIR');
  const listed = [];
  for (const f of files)
    listed.push({ name: f.name, digest: await opts.pool.run({ op: 'blake3', data: f.bytes }, { signal }) });
  return {
    proof: outputProof(listed),
    output: { artifacts: files.map((f) => ({ name: f.name, data: f.bytes.toString('base64') })) },
  };
}

/** A slice as the cache sees it: what it computes, not where it sits in this job. */
function sliceIdentity(slice: Slice): Slice {
  return slice.kind === 'frame' ? { ...slice, index: 0 } : slice;
}
