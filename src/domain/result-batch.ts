// A batch of results signed once (the worker protocol's job_results): each result is a leaf,
// BLAKE3 of "<job_id> <result_hash>", and the worker signs the Merkle root of the leaves in the
// batch's order. The market recomputes the root from the results it received, so a batch whose
// results were changed, dropped or reordered does not verify; each result still has to be the
// Merkle root of its own slice proofs.

import { blake3Hex, utf8 } from './hash.js';
import { proofRoot } from './merkle.js';

export function resultLeaf(jobId: string, resultHash: string): string {
  return blake3Hex(utf8(`${jobId} ${resultHash}`));
}

export function batchRoot(results: readonly { job_id: string; result_hash: string }[]): string {
  return proofRoot(results.map((r) => resultLeaf(r.job_id, r.result_hash)));
}
