import { describe, expect, it } from 'vitest';
import { computeRootOfFile } from '../../src/chain/compute-root-file.js';
import { computeRoot } from '../../src/domain/merkle.js';
import { resultOf } from './fixtures.js';

describe('compute-root of a file', () => {
  const results = [resultOf(1), resultOf(2), resultOf(3)];

  it('prints the root of a JSON array of ComputeResults', () => {
    expect(computeRootOfFile(JSON.stringify(results, null, 2))).toEqual({
      ok: true,
      root: computeRoot(results),
      count: 3,
    });
    // Key order in the file does not matter: the leaf uses the chain's field order.
    const shuffled = results.map((r) => ({
      signature: r.signature,
      nonce: r.nonce,
      proof: r.proof,
      result_hash: r.result_hash,
      worker_address: r.worker_address,
      task_id: r.task_id,
    }));
    expect(computeRootOfFile(JSON.stringify(shuffled))).toMatchObject({ root: computeRoot(results) });
    expect(computeRootOfFile(`\uFEFF${JSON.stringify(results)}`)).toMatchObject({ ok: true });
    expect(computeRootOfFile('[]')).toEqual({ ok: true, root: '', count: 0 });
    // Unknown keys are dropped, as the chain's ComputeResult model drops them.
    expect(computeRootOfFile(JSON.stringify(results.map((r) => ({ ...r, gpu_seconds: 3 }))))).toEqual({
      ok: true,
      root: computeRoot(results),
      count: 3,
    });
  });

  it('names the item and the field of every problem', () => {
    const r = resultOf(1) as unknown as Record<string, unknown>;
    const cases: [string, string][] = [
      ['[{', 'not JSON'],
      ['{}', 'expected a JSON array of ComputeResults'],
      ['[1]', 'item 0: must be an object'],
      [JSON.stringify([r, { ...r, task_id: 5 }]), 'item 1: field "task_id" must be a string, got 5'],
      [JSON.stringify([{ ...r, proof: null }]), 'item 0: field "proof" must be a string, got null'],
      [JSON.stringify([{ ...r, worker_address: undefined }]), 'item 0: missing field "worker_address"'],
      [JSON.stringify([{ ...r, nonce: undefined }]), 'item 0: missing field "nonce"'],
      [JSON.stringify([{ ...r, nonce: -1 }]), 'item 0: field "nonce" must be a non-negative integer, got -1'],
      [
        JSON.stringify([{ ...r, nonce: 1.5 }]),
        'item 0: field "nonce" must be a non-negative integer, got 1.5',
      ],
      [
        JSON.stringify([r]).replace('"nonce":1', '"nonce":9007199254740993'),
        'item 0: field "nonce" is larger than 2^53 - 1',
      ],
    ];
    for (const [text, message] of cases) {
      const out = computeRootOfFile(text);
      expect(out.ok).toBe(false);
      if (!out.ok) expect(out.error).toContain(message);
    }
  });
});
