// The worker's self-test (`taskmarket worker --self-test`, and at every start unless
// self_test = false): every configured runner does one tiny job (each inference model its own)
// before the worker offers anything, and only the types and models that pass are offered.
// A runner that cannot work (a command not found, a script that fails, a server that is down, a
// GGUF file that does not load) is logged with its reason and left out, so it never collects
// failed jobs and the reputation they cost.
//
// The jobs run through runners built from the same config as the real ones, without the slice
// cache, with TASKMARKET_SELF_TEST=1 in external commands' environment: a command that cannot
// do real work on a made-up payload (a scene URL that does not exist) checks itself instead and
// writes a file. The reference runners' answers are checked against the reference computation.

import { randomUUID } from 'node:crypto';
import { blake3 } from '@noble/hashes/blake3.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { ChallengeType } from '../domain/schemas/payloads.js';
import { planJobs } from '../domain/work.js';
import { runnableTypes, type Passed } from './capability.js';
import { servedModels, type WorkerConfig } from './config.js';
import type { ThreadPool } from './pool.js';
import type { LlamaEngine } from './runners/llama.js';
import { createRunners } from './runners/registry.js';
import { runSyntheticSync } from '../domain/synthetic.js';
import type { JobMsg, Runner, RunnerResult } from './runners/types.js';

export interface SelfTestCheck {
  type: ChallengeType;
  /** The inference model checked. */
  model?: string;
  ok: boolean;
  /** How long the job took, for the log. */
  ms: number;
  /** Why it failed. */
  problem?: string;
}

export interface SelfTestReport {
  passed: Passed;
  checks: SelfTestCheck[];
}

export interface SelfTestOptions {
  pool: ThreadPool;
  llama: LlamaEngine | null;
  /** Per check; a runner still busy after this fails its check. */
  timeoutMs: number;
  /** Told of each check as it ends. */
  onCheck?: (check: SelfTestCheck) => void;
}

export const SELF_TEST_ENV = { TASKMARKET_SELF_TEST: '1' } as const;

const SYNTHETIC = { seed: '5e1f7e57', matrix_size: 8, iterations: 2 };
/** 1 KiB, deterministic: what the hash runners (and a transcoder command) get. */
const BYTES = Uint8Array.from({ length: 1024 }, (_, i) => (i * 31 + 7) & 0xff);
const BYTES_PROOF = bytesToHex(blake3(BYTES));
const PROMPT = 'Hello';

export async function runSelfTest(config: WorkerConfig, opts: SelfTestOptions): Promise<SelfTestReport> {
  const runners = createRunners(config.runners, {
    pool: opts.pool,
    cache: null,
    llama: opts.llama,
    env: SELF_TEST_ENV,
  });
  const checks: SelfTestCheck[] = [];
  const record = (c: SelfTestCheck) => {
    checks.push(c);
    opts.onCheck?.(c);
  };
  for (const type of runnableTypes(config)) {
    const runner = runners[type];
    if (!runner) {
      record({ type, ok: false, ms: 0, problem: 'no runner' });
      continue;
    }
    if (type === 'inference') {
      for (const model of servedModels(config))
        record({ type, model, ...(await check(runner, tinyJob(type, model), opts.timeoutMs)) });
    } else {
      const hasCommand = (type === 'transcode' || type === 'gpuhash') && !!config.runners[type]?.command;
      record({ type, ...(await check(runner, tinyJob(type), opts.timeoutMs, hasCommand)) });
    }
  }
  const passed: Passed = {
    types: [...new Set(checks.filter((c) => c.ok).map((c) => c.type))],
    models: checks.filter((c) => c.ok && c.model !== undefined).map((c) => c.model as string),
  };
  return { passed, checks };
}

/** One line per check, for people: "ok   inference tiny (120 ms)" / "FAIL training: why". */
export function formatCheck(c: SelfTestCheck): string {
  const what = c.model ? `${c.type} ${c.model}` : c.type;
  return c.ok ? `ok    ${what} (${c.ms} ms)` : `FAIL  ${what}: ${c.problem ?? 'failed'}`;
}

async function check(
  runner: Runner,
  job: JobMsg,
  timeoutMs: number,
  hasCommand = false,
): Promise<Omit<SelfTestCheck, 'type' | 'model'>> {
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const result = await runner(job, { signal, onSliceDone: () => undefined });
    const problem = resultProblem(job, result, hasCommand);
    return problem ? { ok: false, ms: ms(), problem } : { ok: true, ms: ms() };
  } catch (err) {
    const problem = signal.aborted
      ? `no answer within ${timeoutMs} ms (self_test_timeout_ms)`
      : ((err as Error).message ?? String(err));
    return { ok: false, ms: ms(), problem };
  }
}

function resultProblem(job: JobMsg, result: RunnerResult, hasCommand: boolean): string | null {
  if (result.proofs.length !== job.slices.length)
    return `returned ${result.proofs.length} proofs for ${job.slices.length} slices`;
  if (!result.proofs.every((p) => /^[0-9a-f]{64}$/.test(p))) return 'returned a proof that is not BLAKE3 hex';
  const type = job.challenge_type;
  if (type === 'synthetic' && result.proofs[0] !== runSyntheticSync(SYNTHETIC).proof)
    return 'the synthetic proof differs from the reference computation';
  // Only the reference runner (no command) promises BLAKE3 of the bytes themselves.
  if ((type === 'transcode' || type === 'gpuhash') && !hasCommand && result.proofs[0] !== BYTES_PROOF)
    return 'the proof differs from BLAKE3 of the input';
  if (type === 'inference' && typeof result.output?.text !== 'string') return 'returned no text';
  return null;
}

function tinyJob(type: ChallengeType, model?: string): JobMsg {
  const base = { type: 'job' as const, job_id: randomUUID(), task_id: randomUUID(), lease_expires_at: 0 };
  switch (type) {
    case 'synthetic':
      return msg(base, type, SYNTHETIC, planJobs(type, SYNTHETIC)[0]!.slices);
    case 'transcode':
    case 'gpuhash': {
      const slices = planJobs(type, { input_bytes: BYTES.length })[0]!.slices;
      return { ...msg(base, type, {}, slices), input: Buffer.from(BYTES).toString('base64') };
    }
    case 'inference': {
      const payload = { model_id: model as string, prompt: PROMPT, max_tokens: 2, temperature: 0 };
      return msg(base, type, payload, planJobs(type, payload)[0]!.slices);
    }
    case 'training': {
      const payload = {
        model_architecture: 'self-test',
        dataset_url: 'https://example.invalid/self-test.tar',
        epochs: 1,
        batch_size: 1,
      };
      return msg(base, type, payload, planJobs(type, payload)[0]!.slices);
    }
    case 'rendering': {
      const payload = {
        scene_file: 'https://example.invalid/self-test.blend',
        resolution: '64x36',
        frames: 1,
      };
      return msg(base, type, payload, planJobs(type, payload)[0]!.slices);
    }
  }
}

function msg(
  base: Pick<JobMsg, 'type' | 'job_id' | 'task_id' | 'lease_expires_at'>,
  type: ChallengeType,
  payload: Record<string, unknown>,
  slices: JobMsg['slices'],
): JobMsg {
  return { ...base, challenge_type: type, payload, slices, units: slices.reduce((n, s) => n + s.units, 0) };
}
