// The thread pool under TypeScript sources: threads load pool-thread.ts through the tsx
// bootstrap, hash and run the synthetic workload to the same answers as the main thread, and
// abort, fail and close cleanly.

import { blake3 } from '@noble/hashes/blake3.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { afterEach, describe, expect, it } from 'vitest';
import { PoolClosedError, ThreadPool } from '../../src/worker/pool.js';
import { runSyntheticSync } from '../../src/domain/synthetic.js';

let pool: ThreadPool | undefined;
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

describe('thread pool', () => {
  it('hashes plain and shared bytes like the main thread', async () => {
    pool = new ThreadPool(2);
    const plain = new Uint8Array(300_000).map((_, i) => (i * 31) & 0xff);
    const shared = new Uint8Array(new SharedArrayBuffer(plain.length));
    shared.set(plain);
    const [a, b, c] = await Promise.all([
      pool.run({ op: 'blake3', data: plain }),
      pool.run({ op: 'blake3', data: shared.subarray(1000, 5000) }),
      pool.run({ op: 'blake3', data: new Uint8Array(0) }),
    ]);
    expect(a).toBe(bytesToHex(blake3(plain)));
    expect(b).toBe(bytesToHex(blake3(plain.subarray(1000, 5000))));
    expect(c).toBe(bytesToHex(blake3(new Uint8Array(0))));
    expect(pool.threadCount).toBeLessThanOrEqual(2);
  });

  it('runs the synthetic workload to the same proof, reporting progress', async () => {
    pool = new ThreadPool(1);
    const params = { seed: 'abcdef', matrix_size: 128, iterations: 3 };
    const seen: number[] = [];
    const proof = await pool.run({ op: 'synthetic', params }, { onProgress: (done) => seen.push(done) });
    expect(proof).toBe(runSyntheticSync(params).proof);
    expect(seen.at(-1)).toBe(3 * 128);
  });

  it('aborts a running and a queued task, then keeps working', async () => {
    pool = new ThreadPool(1);
    const running = new AbortController();
    const queued = new AbortController();
    let started!: () => void;
    const progressed = new Promise<void>((resolve) => (started = resolve));
    const long = pool.run(
      { op: 'synthetic', params: { seed: '01', matrix_size: 256, iterations: 10_000 } },
      { signal: running.signal, onProgress: () => started() },
    );
    const waiting = pool.run({ op: 'blake3', data: new Uint8Array(8) }, { signal: queued.signal });
    queued.abort(new Error('queued abort'));
    await expect(waiting).rejects.toThrow('queued abort');
    await progressed;
    running.abort(new Error('running abort'));
    await expect(long).rejects.toThrow('running abort');
    expect(await pool.run({ op: 'blake3', data: new Uint8Array(1) })).toBe(
      bytesToHex(blake3(new Uint8Array(1))),
    );
  });

  it('reports a workload error as a rejection', async () => {
    pool = new ThreadPool(1);
    await expect(
      pool.run({ op: 'synthetic', params: { seed: 'xyz', matrix_size: 2, iterations: 1 } }),
    ).rejects.toMatchObject({ name: 'RangeError' });
  });

  it('refuses work once closed and rejects what was in flight', async () => {
    pool = new ThreadPool(1);
    const inFlight = pool.run({
      op: 'synthetic',
      params: { seed: '01', matrix_size: 256, iterations: 10_000 },
    });
    const rejected = expect(inFlight).rejects.toBeInstanceOf(PoolClosedError);
    await pool.close();
    await rejected;
    await expect(pool.run({ op: 'blake3', data: new Uint8Array(1) })).rejects.toBeInstanceOf(PoolClosedError);
  });
});
