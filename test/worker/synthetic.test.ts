import { blake3 } from '@noble/hashes/blake3.js';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  runSynthetic,
  runSyntheticSync,
  syntheticMatrix,
  type SyntheticParams,
} from '../../src/domain/synthetic.js';

/**
 * The workload written the slow, obvious way in BigInt, straight from the definition in the
 * runner's first comment, so the fast 32-bit code is checked against arithmetic that cannot wrap
 * by accident.
 */
function reference({ seed, matrix_size: n, iterations }: SyntheticParams): Uint8Array {
  const bytes = blake3(hexToBytes(seed), {
    context: utf8ToBytes('taskmarket synthetic matrix v1'),
    dkLen: 2 * n * n,
  });
  const a: bigint[] = [];
  for (let i = 0; i < n * n; i++) a.push(BigInt(bytes[2 * i]!) + 256n * BigInt(bytes[2 * i + 1]!));
  let m = [...a];
  for (let t = 1; t <= iterations; t++) {
    const next: bigint[] = [];
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        let sum = BigInt(t);
        for (let k = 0; k < n; k++) sum += m[i * n + k]! * a[k * n + j]!;
        next.push(sum % 2n ** 32n);
      }
    m = next;
  }
  const out = new Uint8Array(4 * n * n);
  m.forEach((v, i) => {
    for (let b = 0; b < 4; b++) out[4 * i + b] = Number((v >> BigInt(8 * b)) & 0xffn);
  });
  return out;
}

const pinned = { seed: '1234abcd5678ef90', matrix_size: 4, iterations: 3 };
const PINNED_PROOF = '520770909776eb7de78cbba30383700e7a66f55d72042da5555ddaa7bb0f364a';

describe('synthetic workload', () => {
  it('matches the pinned answer for a 4×4 matrix over 3 iterations', () => {
    const r = runSyntheticSync(pinned);
    expect(r.proof).toBe(PINNED_PROOF);
    expect(r.output).toHaveLength(4 * 4 * 4);
    expect(bytesToHex(blake3(r.output))).toBe(r.proof);
  });

  it('matches the BigInt reference, across the unrolled and the tail loops', () => {
    for (const n of [1, 2, 3, 7, 8, 9, 16, 19])
      for (const iterations of [1, 2, 3]) {
        const params = { seed: 'c0ffee', matrix_size: n, iterations };
        expect(bytesToHex(runSyntheticSync(params).output), `${n}×${n}, ${iterations}`).toBe(
          bytesToHex(reference(params)),
        );
      }
  });

  it('derives A as the seed-keyed BLAKE3 stream read as little-endian u16', () => {
    const a = syntheticMatrix('00ff', 3);
    const stream = blake3(hexToBytes('00ff'), {
      context: utf8ToBytes('taskmarket synthetic matrix v1'),
      dkLen: 18,
    });
    expect([...a]).toEqual([...Array(9).keys()].map((i) => stream[2 * i]! + 256 * stream[2 * i + 1]!));
  });

  it('is deterministic, and every input matters', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 64 }).map(bytesToHex),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 4 }),
        (seed, n, iterations) => {
          const p = { seed, matrix_size: n, iterations };
          const proof = runSyntheticSync(p).proof;
          expect(runSyntheticSync(p).proof).toBe(proof);
          expect(runSyntheticSync({ ...p, seed: seed + '00' }).proof).not.toBe(proof);
          expect(runSyntheticSync({ ...p, iterations: iterations + 1 }).proof).not.toBe(proof);
          expect(runSyntheticSync({ ...p, matrix_size: n + 1 }).proof).not.toBe(proof);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('runs asynchronously to the same answer, reporting progress up to the total', async () => {
    const params = { seed: 'abcdef', matrix_size: 128, iterations: 6 };
    const seen: [number, number][] = [];
    const r = await runSynthetic(params, { onProgress: (done, total) => seen.push([done, total]) });
    expect(r.proof).toBe(runSyntheticSync(params).proof);
    expect(seen.length).toBeGreaterThan(1);
    for (let i = 1; i < seen.length; i++) expect(seen[i]![0]).toBeGreaterThanOrEqual(seen[i - 1]![0]);
    expect(seen.at(-1)).toEqual([6 * 128, 6 * 128]);
    expect(await runSynthetic(pinned)).toMatchObject({ proof: PINNED_PROOF });
  });

  it('stops when aborted, before starting or part-way', async () => {
    const before = new AbortController();
    before.abort(new Error('cancelled by customer'));
    await expect(runSynthetic(pinned, { signal: before.signal })).rejects.toThrow('cancelled by customer');

    const midway = new AbortController();
    let calls = 0;
    const run = runSynthetic(
      { seed: 'abcdef', matrix_size: 128, iterations: 1000 },
      {
        signal: midway.signal,
        onProgress: () => {
          if (++calls === 2) midway.abort();
        },
      },
    );
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(calls).toBe(2);
  });

  it('refuses parameters outside the workload', () => {
    const bad: SyntheticParams[] = [
      { seed: '', matrix_size: 4, iterations: 1 },
      { seed: 'abc', matrix_size: 4, iterations: 1 },
      { seed: 'ABCD', matrix_size: 4, iterations: 1 },
      { seed: 'abcd', matrix_size: 0, iterations: 1 },
      { seed: 'abcd', matrix_size: 8193, iterations: 1 },
      { seed: 'abcd', matrix_size: 2.5, iterations: 1 },
      { seed: 'abcd', matrix_size: 4, iterations: 0 },
    ];
    for (const p of bad) expect(() => runSyntheticSync(p), JSON.stringify(p)).toThrow(RangeError);
  });
});
