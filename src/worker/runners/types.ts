// The one runner interface every challenge type is executed through, and the failure a runner
// throws when it cannot do a job. A runner gets the market's job message, returns one proof per
// slice (in slice order) and, optionally, the output the customer receives.

import type { Static } from '@sinclair/typebox';
import type { Artifact, JOB_FAILURE_REASONS, JobMsg, SliceSpec } from '../../domain/schemas/worker.js';

export type JobFailureReason = (typeof JOB_FAILURE_REASONS)[number];
export type Slice = Static<typeof SliceSpec>;
export type { JobMsg };

export interface RunnerContext {
  /** Aborted when the market cancels the job or the agent shuts down; runners stop promptly. */
  signal: AbortSignal;
  /** Called once per slice as it finishes (in completion order, not slice order). */
  onSliceDone: (sliceIndex: number, proof: string) => void;
}

export interface RunnerOutput {
  text?: string;
  artifacts?: Artifact[];
}

export interface RunnerResult {
  /** BLAKE3 proofs (64 lowercase hex), one per slice, in the job's slice order. */
  proofs: string[];
  output?: RunnerOutput;
}

export type Runner = (job: JobMsg, ctx: RunnerContext) => Promise<RunnerResult>;

/**
 * A failure the market should hear about with a reason from the protocol's catalogue. Anything
 * else a runner throws is reported as `runner_error`, so a bug never looks like bad input.
 */
export class JobFailure extends Error {
  constructor(
    readonly reason: JobFailureReason,
    message: string,
  ) {
    super(message);
    this.name = 'JobFailure';
  }
}

/** True for the error an aborted signal rejects with (DOMException AbortError or its reason). */
export function isAbort(err: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted && err === signal.reason) return true;
  return err instanceof Error && err.name === 'AbortError';
}
