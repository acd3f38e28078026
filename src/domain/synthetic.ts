// The synthetic GPU stress workload (spec/task-market.md: seed, matrix_size, iterations), in
// plain JS and bit-for-bit reproducible on any machine, so a validator can re-run it and get the
// same proof.
//
//   A   = n×n matrix of u16: BLAKE3 in key-derivation mode (context SYNTHETIC_CONTEXT) keyed by
//         the seed bytes, extended to 2·n² bytes, read as little-endian u16, row-major
//   M₀  = A
//   Mₜ  = Mₜ₋₁ × A + t  (mod 2³², t added to every element), for t = 1..iterations
//   proof = BLAKE3(M_iterations as little-endian u32, row-major)
//
// All arithmetic is 32-bit two's complement (Math.imul and | 0), which equals arithmetic mod 2³²
// on the same bits, so no float ever rounds. Products run in i-k-j order over row-major arrays:
// the inner loop walks one row of A and one row of the result contiguously.

import { blake3 } from '@noble/hashes/blake3.js';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';

export const SYNTHETIC_CONTEXT = 'taskmarket synthetic matrix v1';
export const MAX_MATRIX_SIZE = 8192;

export interface SyntheticParams {
  /** Lowercase hex, at least one byte. */
  seed: string;
  matrix_size: number;
  iterations: number;
}

export interface RunOptions {
  /** Checked between chunks of rows; an abort rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Rows of products done so far out of iterations × matrix_size. */
  onProgress?: (done: number, total: number) => void;
}

export interface RunResult {
  /** BLAKE3 of `output`, lowercase hex. */
  proof: string;
  /** The final matrix as little-endian u32, row-major: n² × 4 bytes. */
  output: Uint8Array;
}

/** Work (multiply-adds) between two looks at the signal: a few milliseconds of CPU. */
const CHUNK_MULADDS = 1 << 22;

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The matrix A of a seed: n² values below 2¹⁶, row-major. */
export function syntheticMatrix(seedHex: string, n: number): Uint16Array {
  checkParams({ seed: seedHex, matrix_size: n, iterations: 1 });
  const bytes = blake3(hexToBytes(seedHex), { context: utf8ToBytes(SYNTHETIC_CONTEXT), dkLen: 2 * n * n });
  const a = new Uint16Array(n * n);
  for (let i = 0; i < a.length; i++) a[i] = (bytes[2 * i] as number) | ((bytes[2 * i + 1] as number) << 8);
  return a;
}

/** Runs the workload on this thread without yielding: for validators and tests of small sizes. */
export function runSyntheticSync(params: SyntheticParams): RunResult {
  const steps = syntheticSteps(params);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/**
 * Runs the workload, yielding to the event loop every few milliseconds so heartbeats keep
 * flowing and an abort is noticed. Large sizes are slow (8192 is ~5.5·10¹¹ multiply-adds an
 * iteration); that is the point of a stress test.
 */
export async function runSynthetic(params: SyntheticParams, opts: RunOptions = {}): Promise<RunResult> {
  const { signal, onProgress } = opts;
  signal?.throwIfAborted();
  const steps = syntheticSteps(params);
  for (;;) {
    const step = steps.next();
    if (step.done) {
      onProgress?.(params.iterations * params.matrix_size, params.iterations * params.matrix_size);
      return step.value;
    }
    onProgress?.(step.value.done, step.value.total);
    await new Promise<void>((resolve) => setImmediate(resolve));
    signal?.throwIfAborted();
  }
}

/** The computation, pausing (yielding progress) after each chunk of rows. */
function* syntheticSteps(params: SyntheticParams): Generator<{ done: number; total: number }, RunResult> {
  checkParams(params);
  const n = params.matrix_size;
  const total = params.iterations * n;
  const a = syntheticMatrix(params.seed, n);
  let cur = Int32Array.from(a);
  let next = new Int32Array(n * n);
  let budget = 0;
  for (let t = 1; t <= params.iterations; t++) {
    for (let i = 0; i < n; i++) {
      multiplyRow(cur, a, next, n, i, t);
      budget += n * n;
      if (budget >= CHUNK_MULADDS) {
        budget = 0;
        yield { done: (t - 1) * n + i + 1, total };
      }
    }
    [cur, next] = [next, cur];
  }
  const output = littleEndianBytes(cur);
  return { proof: bytesToHex(blake3(output)), output };
}

/**
 * Row i of out = (row i of m) × a + t, mod 2³². Eight rows of `a` are folded per pass over the
 * output row (about twice as fast in V8 as one at a time). Each group of four products sums to
 * less than 2³³ in magnitude, so the doubles stay exact before `| 0` wraps them.
 */
function multiplyRow(m: Int32Array, a: Uint16Array, out: Int32Array, n: number, i: number, t: number): void {
  const row = i * n;
  // Starting the row at t adds t to every element; addition mod 2³² is associative.
  out.fill(t, row, row + n);
  let k = 0;
  // Non-null assertions: every index below is in range by the loop bounds, and `as` casts on
  // sixteen reads would bury the arithmetic.
  for (; k + 7 < n; k += 8) {
    const r = row + k;
    const m0 = m[r]!;
    const m1 = m[r + 1]!;
    const m2 = m[r + 2]!;
    const m3 = m[r + 3]!;
    const m4 = m[r + 4]!;
    const m5 = m[r + 5]!;
    const m6 = m[r + 6]!;
    const m7 = m[r + 7]!;
    const a0 = k * n;
    const a1 = a0 + n;
    const a2 = a1 + n;
    const a3 = a2 + n;
    const a4 = a3 + n;
    const a5 = a4 + n;
    const a6 = a5 + n;
    const a7 = a6 + n;
    for (let j = 0; j < n; j++) {
      const lo =
        (Math.imul(m0, a[a0 + j]!) +
          Math.imul(m1, a[a1 + j]!) +
          Math.imul(m2, a[a2 + j]!) +
          Math.imul(m3, a[a3 + j]!)) |
        0;
      const hi =
        (Math.imul(m4, a[a4 + j]!) +
          Math.imul(m5, a[a5 + j]!) +
          Math.imul(m6, a[a6 + j]!) +
          Math.imul(m7, a[a7 + j]!)) |
        0;
      out[row + j] = (out[row + j]! + lo + hi) | 0;
    }
  }
  for (; k < n; k++) {
    const mk = m[row + k]!;
    const ak = k * n;
    for (let j = 0; j < n; j++) out[row + j] = (out[row + j]! + Math.imul(mk, a[ak + j]!)) | 0;
  }
}

function littleEndianBytes(m: Int32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(m.buffer, m.byteOffset, m.byteLength);
  const out = new Uint8Array(m.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < m.length; i++) view.setInt32(i * 4, m[i] as number, true);
  return out;
}

function checkParams(p: SyntheticParams): void {
  if (typeof p.seed !== 'string' || !/^(?:[0-9a-f]{2})+$/.test(p.seed))
    throw new RangeError('seed must be lowercase hex of at least one byte');
  if (!Number.isSafeInteger(p.matrix_size) || p.matrix_size < 1 || p.matrix_size > MAX_MATRIX_SIZE)
    throw new RangeError(`matrix_size must be an integer from 1 to ${MAX_MATRIX_SIZE}`);
  if (!Number.isSafeInteger(p.iterations) || p.iterations < 1)
    throw new RangeError('iterations must be a positive integer');
}
