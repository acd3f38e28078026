// The `synthetic` job runner: one `whole` slice whose proof is the synthetic workload's proof
// (runners/synthetic.ts), computed on a pool thread so a large matrix does not stall the agent.

import { sliceCacheKey, type SliceCache } from '../cache.js';
import type { ThreadPool } from '../pool.js';
import { runSlices } from './slices.js';
import { JobFailure, type Runner } from './types.js';

export interface SyntheticRunnerOptions {
  pool: ThreadPool;
  cache: SliceCache | null;
}

export function syntheticRunner(opts: SyntheticRunnerOptions): Runner {
  return async (job, ctx) => {
    const { seed, matrix_size, iterations } = job.payload;
    if (typeof seed !== 'string' || typeof matrix_size !== 'number' || typeof iterations !== 'number')
      throw new JobFailure('invalid_payload', 'a synthetic payload needs seed, matrix_size and iterations');
    const params = { seed, matrix_size, iterations };
    const outcomes = await runSlices(job.slices, 1, ctx, async (slice) => {
      if (slice.kind !== 'whole')
        throw new JobFailure('invalid_payload', `a synthetic job has one whole slice, not ${slice.kind}`);
      const compute = async () => ({
        proof: await opts.pool.run({ op: 'synthetic', params }, { signal: ctx.signal }),
      });
      if (!opts.cache) return compute();
      return opts.cache.through(sliceCacheKey(job.challenge_type, params, slice, null), compute);
    });
    return { proofs: outcomes.map((o) => o.proof) };
  };
}
