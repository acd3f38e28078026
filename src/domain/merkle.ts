// The two Merkle roots of the market. `computeRoot` is the chain's `compute_root` over
// SUBMIT_RESULT ComputeResults (SHA-256); `proofRoot` is a job's or task's `result_hash` over
// its slice or job proofs (BLAKE3). Both pair nodes left to right, duplicate the last node of an
// odd level, and take a single leaf as its own root.
//
// Domain separation: neither tree prefixes leaves or inner nodes (no 0x00/0x01 tags).
// - compute_root must be byte-for-byte what the chain computes, so it takes the chain's rule.
//   A leaf preimage is a ComputeResult's JSON, always longer than 64 bytes, and an inner preimage
//   is exactly 64 bytes, so a leaf can never pass for an inner node without a SHA-256 collision.
// - proofRoot leaves are themselves 32-byte hashes, so an inner node could pass for a leaf, and
//   duplication makes [a, b, c] and [a, b, c, c] share a root. Neither matters here: the verifier
//   recomputes the root from the plan, which fixes how many slices or jobs there are and which
//   proof sits where, so a root is only ever compared against one known leaf count. Keeping the
//   plain rule lets anyone check a result_hash with nothing but a BLAKE3 tool.
// Callers that build a root from untrusted lists must still refuse duplicate entries.

import { blake3 } from '@noble/hashes/blake3.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';

/** One worker's result as SUBMIT_RESULT carries it to L1. */
export interface ComputeResult {
  task_id: string;
  worker_address: string;
  result_hash: string;
  proof: string;
  nonce: number;
  signature: string;
}

const PROOF_HEX = /^[0-9a-f]{64}$/;

/**
 * The compact JSON of a ComputeResult with its keys in the chain's field order, built by hand
 * so that the order of the caller's object keys (or extra keys) cannot change a leaf.
 */
export function computeResultJson(r: ComputeResult): string {
  if (!Number.isSafeInteger(r.nonce) || r.nonce < 0)
    throw new RangeError(`nonce must be a non-negative safe integer, got ${r.nonce}`);
  return (
    `{"task_id":${JSON.stringify(r.task_id)}` +
    `,"worker_address":${JSON.stringify(r.worker_address)}` +
    `,"result_hash":${JSON.stringify(r.result_hash)}` +
    `,"proof":${JSON.stringify(r.proof)}` +
    `,"nonce":${r.nonce}` +
    `,"signature":${JSON.stringify(r.signature)}}`
  );
}

/** SHA-256 of a ComputeResult's JSON: one leaf of compute_root. */
export function computeResultLeaf(r: ComputeResult): Uint8Array {
  return sha256(utf8ToBytes(computeResultJson(r)));
}

/** The chain's compute_root of a block's results, lowercase hex; '' when there are none. */
export function computeRoot(results: readonly ComputeResult[]): string {
  if (results.length === 0) return '';
  return bytesToHex(reduceLevels(results.map(computeResultLeaf), sha256));
}

/**
 * The Merkle root (BLAKE3 parents) of slice or job proofs, each 32-byte lowercase hex, in plan
 * order. There is no root of nothing: a job or task always has at least one part.
 */
export function proofRoot(proofsHex: readonly string[]): string {
  if (proofsHex.length === 0) throw new RangeError('a proof root needs at least one proof');
  const leaves = proofsHex.map((p, i) => {
    if (typeof p !== 'string' || !PROOF_HEX.test(p))
      throw new RangeError(`proof ${i} must be 64 lowercase hex characters (a 32-byte BLAKE3 hash)`);
    return hexToBytes(p);
  });
  return bytesToHex(reduceLevels(leaves, blake3));
}

function reduceLevels(leaves: Uint8Array[], hash: (bytes: Uint8Array) => Uint8Array): Uint8Array {
  let level = leaves;
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) {
      const left = level[i] as Uint8Array;
      const right = level[i + 1] ?? left;
      next.push(hash(concatBytes(left, right)));
    }
    level = next;
  }
  return level[0] as Uint8Array;
}
