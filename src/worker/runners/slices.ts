// Running a job's slices with bounded concurrency. Slices are independent and each proof
// depends only on its own slice, so running them in any order or in parallel gives the same
// proofs; they are put back in slice order before the job's Merkle root is taken.

import type { RunnerContext, Slice } from './types.js';

export interface SliceOutcome<T> {
  proof: string;
  extra?: T;
}

/**
 * Runs fn for every slice, at most `concurrency` at a time, reporting each as it finishes.
 * The first failure stops new slices from starting and is rethrown once the running ones end.
 */
export async function runSlices<T>(
  slices: readonly Slice[],
  concurrency: number,
  ctx: RunnerContext,
  fn: (slice: Slice) => Promise<SliceOutcome<T>>,
): Promise<SliceOutcome<T>[]> {
  const results = new Array<SliceOutcome<T>>(slices.length);
  let next = 0;
  let failed: { err: unknown } | null = null;
  const lane = async (): Promise<void> => {
    while (failed === null && next < slices.length) {
      const position = next++;
      const slice = slices[position] as Slice;
      try {
        ctx.signal.throwIfAborted();
        const outcome = await fn(slice);
        results[position] = outcome;
        ctx.onSliceDone(slice.index, outcome.proof);
      } catch (err) {
        failed ??= { err };
      }
    }
  };
  const lanes = Math.max(1, Math.min(concurrency, slices.length));
  await Promise.all(Array.from({ length: lanes }, lane));
  if (failed !== null) throw (failed as { err: unknown }).err;
  return results;
}
