import { blake3 } from '@noble/hashes/blake3.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { computeResultJson, computeRoot, proofRoot, type ComputeResult } from '../../src/domain/merkle.js';

const r0: ComputeResult = {
  task_id: '550e8400-e29b-41d4-a716-446655440000',
  worker_address: 'cpc1w508d6qejxtdg4y5r3zarvary0c5xw7k32stzz',
  result_hash: 'aa'.repeat(32),
  proof: 'bb'.repeat(32),
  nonce: 7,
  signature: 'cc'.repeat(64),
};
const r1: ComputeResult = { ...r0, task_id: '6ba7b810-9dad-11d1-80b4-00c04fd430c8', nonce: 0 };
const r2: ComputeResult = { ...r0, worker_address: 'cpc1other', nonce: 12345678901 };

// The leaves written out by hand, in the chain's field order.
const json0 =
  '{"task_id":"550e8400-e29b-41d4-a716-446655440000","worker_address":"cpc1w508d6qejxtdg4y5r3zarvary0c5xw7k32stzz",' +
  `"result_hash":"${'aa'.repeat(32)}","proof":"${'bb'.repeat(32)}","nonce":7,"signature":"${'cc'.repeat(64)}"}`;
const json1 = json0
  .replace('550e8400-e29b-41d4-a716-446655440000', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')
  .replace('"nonce":7', '"nonce":0');
const json2 = json0
  .replace('cpc1w508d6qejxtdg4y5r3zarvary0c5xw7k32stzz', 'cpc1other')
  .replace('"nonce":7', '"nonce":12345678901');
const leaf = (json: string) => sha256(utf8ToBytes(json));
const sha = (a: Uint8Array, b: Uint8Array) => sha256(concatBytes(a, b));

describe('compute_root', () => {
  it('is empty for no results', () => {
    expect(computeRoot([])).toBe('');
  });

  it('serialises a result compactly in the chain field order', () => {
    expect(computeResultJson(r0)).toBe(json0);
    expect(computeResultJson(r1)).toBe(json1);
    expect(computeResultJson(r2)).toBe(json2);
  });

  it('one leaf is its own root', () => {
    expect(computeRoot([r0])).toBe(bytesToHex(leaf(json0)));
  });

  it('two leaves hash their raw 32-byte digests together', () => {
    expect(computeRoot([r0, r1])).toBe(bytesToHex(sha(leaf(json0), leaf(json1))));
    expect(computeRoot([r1, r0])).not.toBe(computeRoot([r0, r1]));
  });

  it('an odd level duplicates its last node', () => {
    const [l0, l1, l2] = [leaf(json0), leaf(json1), leaf(json2)];
    expect(computeRoot([r0, r1, r2])).toBe(bytesToHex(sha(sha(l0, l1), sha(l2, l2))));
    // Five leaves: the duplication happens on two levels.
    const five = [r0, r1, r2, r0, r1];
    const l = five.map((r) => leaf(computeResultJson(r)));
    const a = sha(l[0]!, l[1]!);
    const b = sha(l[2]!, l[3]!);
    const c = sha(l[4]!, l[4]!);
    expect(computeRoot(five)).toBe(bytesToHex(sha(sha(a, b), sha(c, c))));
  });

  it('does not depend on the key order (or extra keys) of the objects passed in', () => {
    const shuffled = {
      signature: r0.signature,
      nonce: r0.nonce,
      extra: 'ignored',
      proof: r0.proof,
      result_hash: r0.result_hash,
      worker_address: r0.worker_address,
      task_id: r0.task_id,
    } as ComputeResult;
    expect(computeRoot([shuffled])).toBe(computeRoot([r0]));
  });

  it('escapes strings as JSON does', () => {
    expect(computeResultJson({ ...r0, task_id: 'a"b\\c\n' })).toContain('{"task_id":"a\\"b\\\\c\\n",');
  });

  it('refuses a nonce that has no exact integer spelling', () => {
    for (const nonce of [-1, 1.5, Number.NaN, 2 ** 53, Number.POSITIVE_INFINITY])
      expect(() => computeRoot([{ ...r0, nonce }]), String(nonce)).toThrow(RangeError);
  });

  it('changes when any field of any leaf changes', () => {
    const hex = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 1, maxLength: 16 });
    const result = fc.record({
      task_id: fc.uuid(),
      worker_address: hex.map((h) => `cpc1${h}`),
      result_hash: hex,
      proof: hex,
      nonce: fc.nat(),
      signature: hex,
    });
    fc.assert(
      fc.property(
        fc.array(result, { minLength: 1, maxLength: 9 }),
        fc.nat(),
        fc.constantFrom('task_id', 'worker_address', 'result_hash', 'proof', 'nonce', 'signature'),
        (results, at, field) => {
          const i = at % results.length;
          const before = computeRoot(results);
          const changed = results.map((r, j) =>
            j !== i ? r : { ...r, [field]: field === 'nonce' ? r.nonce + 1 : `${r[field]}x` },
          );
          expect(computeRoot(changed)).not.toBe(before);
          expect(before).toMatch(/^[0-9a-f]{64}$/);
        },
      ),
    );
  });
});

describe('proof root', () => {
  const p = ['01', '02', '03', '04', '05'].map((b) => b.repeat(32));
  const bytes = p.map(hexToBytes);
  const b3 = (a: Uint8Array, b: Uint8Array) => blake3(concatBytes(a, b));

  it('a single proof is its own root', () => {
    expect(proofRoot([p[0]!])).toBe(p[0]);
  });

  it('hashes pairs with BLAKE3 and duplicates the last node of an odd level', () => {
    const [a, b, c] = bytes as [Uint8Array, Uint8Array, Uint8Array];
    expect(proofRoot(p.slice(0, 2))).toBe(bytesToHex(b3(a, b)));
    expect(proofRoot(p.slice(0, 3))).toBe(bytesToHex(b3(b3(a, b), b3(c, c))));
  });

  it('has no root of nothing, and refuses what is not a 32-byte lowercase hex hash', () => {
    expect(() => proofRoot([])).toThrow(RangeError);
    for (const bad of ['', '01', 'AB'.repeat(32), `0x${'01'.repeat(31)}`, '01'.repeat(33)])
      expect(() => proofRoot([p[0]!, bad]), bad).toThrow(/proof 1/);
  });

  it('depends on every proof and on their order', () => {
    const proof = fc.uint8Array({ minLength: 32, maxLength: 32 }).map(bytesToHex);
    fc.assert(
      fc.property(fc.array(proof, { minLength: 1, maxLength: 17 }), fc.nat(), proof, (proofs, at, other) => {
        const i = at % proofs.length;
        fc.pre(other !== proofs[i]);
        const before = proofRoot(proofs);
        expect(proofRoot(proofs.map((q, j) => (j === i ? other : q)))).not.toBe(before);
        if (proofs.length > 1 && proofs[0] !== proofs[1])
          expect(proofRoot([proofs[1]!, proofs[0]!, ...proofs.slice(2)])).not.toBe(before);
      }),
    );
  });
});
