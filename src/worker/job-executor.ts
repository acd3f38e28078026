// Turns one job message into what the market gets back for it: a result (signed later with the
// others that finish with it, src/worker/result-batch.ts),
// a job_failed with a catalogue reason, or nothing at all when the market cancelled the job.
// It never throws: whatever a runner does, the agent gets an outcome and keeps serving.

import { proofRoot } from '../domain/merkle.js';
import { MAX_MESSAGE_BYTES, type BatchedResult, type JobFailed } from '../domain/schemas/worker.js';
import { checkJob } from './job-check.js';
import type { RunnerSet } from './runners/registry.js';
import { JobFailure, type JobMsg } from './runners/types.js';

export type JobOutcome =
  { kind: 'result'; message: BatchedResult } | { kind: 'failed'; message: JobFailed } | { kind: 'cancelled' };

/** The abort reason of a job stopped because the agent is shutting down (not a market cancel). */
export class ShutdownAbort extends Error {
  constructor() {
    super('the worker is shutting down');
    this.name = 'ShutdownAbort';
  }
}

/** JobFailed.message's schema limit. */
const MAX_FAILURE_MESSAGE = 2000;

export function failedMessage(jobId: string, reason: JobFailed['reason'], message: string): JobFailed {
  return { type: 'job_failed', job_id: jobId, reason, message: message.slice(0, MAX_FAILURE_MESSAGE) };
}

export class JobExecutor {
  constructor(private readonly runners: RunnerSet) {}

  async execute(
    job: JobMsg,
    signal: AbortSignal,
    onProgress: (done: number, total: number) => void,
  ): Promise<JobOutcome> {
    try {
      const checked = checkJob(job, this.runners);
      const runner = this.runners[checked.challenge_type];
      if (!runner) throw new JobFailure('unsupported', `no runner for ${checked.challenge_type}`);
      const total = checked.slices.length;
      let done = 0;
      const result = await runner(checked, { signal, onSliceDone: () => onProgress(++done, total) });
      signal.throwIfAborted();
      if (result.proofs.length !== total)
        throw new Error(`the runner returned ${result.proofs.length} proofs for ${total} slices`);
      const message: BatchedResult = {
        job_id: job.job_id,
        result_hash: proofRoot(result.proofs),
        proof: result.proofs,
      };
      const output = result.output;
      if (output && (output.text !== undefined || (output.artifacts?.length ?? 0) > 0))
        message.output = output;
      // A result travels in a job_results frame, whose envelope takes a little room.
      const bytes = Buffer.byteLength(JSON.stringify(message)) + 1024;
      if (bytes > MAX_MESSAGE_BYTES)
        throw new JobFailure(
          'runner_error',
          `the result is ${bytes} bytes, over the protocol's ${MAX_MESSAGE_BYTES}-byte message limit`,
        );
      return { kind: 'result', message };
    } catch (err) {
      if (signal.aborted) {
        if (signal.reason instanceof ShutdownAbort)
          return { kind: 'failed', message: failedMessage(job.job_id, 'shutdown', signal.reason.message) };
        return { kind: 'cancelled' };
      }
      if (err instanceof JobFailure)
        return { kind: 'failed', message: failedMessage(job.job_id, err.reason, err.message) };
      const text = err instanceof Error ? err.message : String(err);
      return { kind: 'failed', message: failedMessage(job.job_id, 'runner_error', text) };
    }
  }
}
