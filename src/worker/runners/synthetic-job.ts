// The `synthetic` job runner: one `whole` slice whose proof is the synthetic workload's proof
// (runners/synthetic.ts), computed on a pool thread so a large matrix does not stall the agent.
// A tiny workload (INLINE_MULADDS or less) runs right here instead: handing it to a thread and
// back costs more CPU than the work, and a cache look-up (a canonical-JSON key and its BLAKE3)
// costs about as much as recomputing it.

import { runSyntheticSync } from '../../domain/synthetic.js';
import { sliceCacheKey, type SliceCache } from '../cache.js';
import type { ThreadPool } from '../pool.js';
import { runSlices } from './slices.js';
import { JobFailure, type Runner } from './types.js';

export interface SyntheticRunnerOptions {
  pool: ThreadPool;
  cache: SliceCache | null;
}

/**
 * The most work (multiply-adds, plus the matrix's n² cells to derive and hash) run on the agent's
 * own thread: tens of microseconds, less than a round trip to a pool thread.
 */
export const INLINE_MULADDS = 1 << 16;

export function syntheticRunner(opts: SyntheticRunnerOptions): Runner {
  return async (job, ctx) => {
    const { seed, matrix_size, iterations } = job.payload;
    if (typeof seed !== 'string' || typeof matrix_size !== 'number' || typeof iterations !== 'number')
      throw new JobFailure('invalid_payload', 'a synthetic payload needs seed, matrix_size and iterations');
    const params = { seed, matrix_size, iterations };
    const inline = matrix_size ** 3 * iterations + matrix_size ** 2 <= INLINE_MULADDS;
    const outcomes = await runSlices(job.slices, 1, ctx, async (slice) => {
      if (slice.kind !== 'whole')
        throw new JobFailure('invalid_payload', `a synthetic job has one whole slice, not ${slice.kind}`);
      if (inline) return { proof: runSyntheticSync(params).proof };
      const compute = async () => ({
        proof: await opts.pool.run({ op: 'synthetic', params }, { signal: ctx.signal }),
      });
      if (!opts.cache) return compute();
      return opts.cache.through(sliceCacheKey(job.challenge_type, params, slice, null), compute);
    });
    return { proofs: outcomes.map((o) => o.proof) };
  };
}
