// `taskmarket chain compute-root FILE`: the compute_root of a JSON array of ComputeResults, so
// an operator can check a block's header by hand. Every problem names the item and the field,
// since the file is typed or pasted by a person.

import { computeRoot, type ComputeResult } from '../domain/merkle.js';
import { parseJsonExact } from './json.js';

export type ComputeRootOfFile = { ok: true; root: string; count: number } | { ok: false; error: string };

const STRING_FIELDS = ['task_id', 'worker_address', 'result_hash', 'proof', 'signature'] as const;
const FIELDS: readonly string[] = [...STRING_FIELDS, 'nonce'];

/**
 * Parses `text` as a JSON array of ComputeResults and returns their compute_root (lowercase hex;
 * '' for an empty array, as for a block without results). Never throws.
 */
export function computeRootOfFile(text: string): ComputeRootOfFile {
  let parsed: unknown;
  try {
    // Exact integers, so a nonce past 2^53 is reported instead of silently rounded.
    parsed = parseJsonExact(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    return { ok: false, error: `not JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (!Array.isArray(parsed)) return { ok: false, error: 'expected a JSON array of ComputeResults' };
  const results: ComputeResult[] = [];
  for (const [i, item] of parsed.entries()) {
    const problem = itemProblem(item);
    if (problem) return { ok: false, error: `item ${i}: ${problem}` };
    // Unknown keys are dropped, as the chain's ComputeResult model drops them: the leaf hashes
    // exactly the six fields.
    const o = item as Record<string, unknown>;
    results.push(Object.fromEntries(FIELDS.map((k) => [k, o[k]])) as unknown as ComputeResult);
  }
  return { ok: true, root: computeRoot(results), count: results.length };
}

function itemProblem(item: unknown): string | undefined {
  if (typeof item !== 'object' || item === null || Array.isArray(item))
    return 'must be an object with task_id, worker_address, result_hash, proof, nonce and signature';
  const o = item as Record<string, unknown>;
  for (const name of STRING_FIELDS) {
    if (!(name in o)) return `missing field "${name}"`;
    if (typeof o[name] !== 'string') return `field "${name}" must be a string, got ${kind(o[name])}`;
  }
  if (!('nonce' in o)) return 'missing field "nonce"';
  const nonce = o.nonce;
  if (typeof nonce === 'bigint')
    return 'field "nonce" is larger than 2^53 - 1, which this tool cannot hash exactly';
  if (typeof nonce !== 'number' || !Number.isInteger(nonce) || nonce < 0)
    return `field "nonce" must be a non-negative integer, got ${kind(nonce)}`;
  return undefined;
}

function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number') return String(v);
  return `a ${typeof v}`;
}
