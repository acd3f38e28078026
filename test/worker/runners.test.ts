// The hash and synthetic runners, the slice cache, and the executor's choice of runner and
// failure reason: proofs equal BLAKE3 computed directly, parallel equals serial, repeated slices
// come from the cache, and types or payloads the agent cannot run fail with the right reason.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blake3 } from '@noble/hashes/blake3.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { proofRoot } from '../../src/domain/merkle.js';
import { SliceCache } from '../../src/worker/cache.js';
import { JobExecutor } from '../../src/worker/job-executor.js';
import { ThreadPool } from '../../src/worker/pool.js';
import { hashRunner } from '../../src/worker/runners/hash.js';
import { createRunners } from '../../src/worker/runners/registry.js';
import { runSyntheticSync } from '../../src/domain/synthetic.js';
import { syntheticRunner } from '../../src/worker/runners/synthetic-job.js';
import { JobFailure } from '../../src/worker/runners/types.js';
import { bytes, bytesJob, job, run, syntheticJob } from './fixtures.js';

const serialPool = new ThreadPool(1);
const parallelPool = new ThreadPool(4);
const dir = mkdtempSync(join(tmpdir(), 'taskmarket-runners-'));
afterAll(async () => {
  await Promise.all([serialPool.close(), parallelPool.close()]);
  rmSync(dir, { recursive: true, force: true });
});

const hex = (b: Uint8Array) => bytesToHex(blake3(b));

describe('hash runner', () => {
  it('proves each 1 MiB slice with BLAKE3 of its bytes', async () => {
    const input = bytes(2.5 * 1024 * 1024);
    const msg = bytesJob(input);
    const result = await run(hashRunner({ pool: parallelPool, cache: null, concurrency: 4 }), msg);
    const MiB = 1024 * 1024;
    expect(result.proofs).toEqual([
      hex(input.subarray(0, MiB)),
      hex(input.subarray(MiB, 2 * MiB)),
      hex(input.subarray(2 * MiB)),
    ]);
    expect(result.reported.map(([i]) => i).sort()).toEqual([0, 1, 2]);
  });

  it('gives the same proofs in parallel as serially, for any slicing', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 0, maxLength: 20_000 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        async (input, cuts) => {
          const points = [...new Set([0, input.length, ...cuts.map((c) => c % (input.length + 1))])].sort(
            (a, b) => a - b,
          );
          const slices = points.slice(1).map((end, index) => ({
            index,
            units: 1,
            kind: 'bytes' as const,
            start: points[index]!,
            end,
          }));
          if (slices.length === 0) slices.push({ index: 0, units: 1, kind: 'bytes', start: 0, end: 0 });
          const msg = job('gpuhash', { input: Buffer.from(input).toString('base64') }, slices);
          const serial = await run(hashRunner({ pool: serialPool, cache: null, concurrency: 1 }), msg);
          const parallel = await run(hashRunner({ pool: parallelPool, cache: null, concurrency: 4 }), msg);
          expect(parallel.proofs).toEqual(serial.proofs);
          expect(serial.proofs).toEqual(slices.map((s) => hex(input.subarray(s.start, s.end))));
        },
      ),
      { numRuns: 30 },
    );
  });

  it('reads inline payload input, and refuses missing input or slices past its end', async () => {
    const runner = hashRunner({ pool: serialPool, cache: null, concurrency: 1 });
    const inline = job('transcode', { input: Buffer.from('hello').toString('base64') }, [
      { index: 0, units: 1, kind: 'bytes', start: 0, end: 5 },
    ]);
    expect((await run(runner, inline)).proofs).toEqual([hex(utf8ToBytes('hello'))]);
    const noBytes = { ...bytesJob(bytes(10)), input: undefined };
    await expect(run(runner, noBytes)).rejects.toMatchObject({ reason: 'input_unavailable' });
    const blobOnly = { ...noBytes, payload: { input_blob: 'ab'.repeat(32) } };
    await expect(run(runner, blobOnly)).rejects.toMatchObject({ message: expect.stringContaining('abab') });
    const past = { ...inline, slices: [{ index: 0, units: 1, kind: 'bytes' as const, start: 0, end: 6 }] };
    await expect(run(runner, past)).rejects.toMatchObject({ reason: 'invalid_payload' });
  });

  it('hashes an external command’s stdout instead, and caches it per slice', async () => {
    const counter = join(dir, 'calls');
    // Reverses its stdin, and counts its calls in a file.
    const script =
      "const fs=require('fs');fs.appendFileSync(process.argv[1],'x');" +
      "const c=[];process.stdin.on('data',d=>c.push(d)).on('end',()=>process.stdout.write(Buffer.concat(c).reverse()))";
    const command = {
      argv: [process.execPath, '-e', script, counter],
      timeoutMs: 20_000,
      maxOutputBytes: 1 << 30,
    };
    const cache = new SliceCache(1 << 20);
    const runner = hashRunner({ pool: serialPool, cache, concurrency: 1, command });
    const input = bytes(1.5 * 1024 * 1024, 7);
    const msg = bytesJob(input);
    const first = await run(runner, msg);
    const reversed = (b: Uint8Array) => hex(Uint8Array.from(b).reverse());
    expect(first.proofs).toEqual([reversed(input.subarray(0, 1 << 20)), reversed(input.subarray(1 << 20))]);
    expect(readFileSync(counter, 'utf8')).toBe('xx');
    const again = await run(runner, { ...msg, job_id: crypto.randomUUID() });
    expect(again.proofs).toEqual(first.proofs);
    expect(readFileSync(counter, 'utf8')).toBe('xx');
    expect(cache.hits).toBe(2);
  });
});

describe('synthetic runner', () => {
  const params = { seed: '1234abcd5678ef90', matrix_size: 48, iterations: 3 };

  it('proves with the workload’s own proof, from the cache the second time', async () => {
    const cache = new SliceCache(1 << 20);
    const runner = syntheticRunner({ pool: serialPool, cache });
    const first = await run(runner, syntheticJob(params));
    expect(first.proofs).toEqual([runSyntheticSync(params).proof]);
    expect(first.reported).toEqual([[0, first.proofs[0]]]);
    expect(cache.misses).toBe(1);
    await run(runner, syntheticJob({ iterations: 3, matrix_size: 48, seed: params.seed }));
    expect(cache.hits).toBe(1);
  });

  it('runs a tiny workload on the agent’s own thread, to the same proof, without the cache', async () => {
    const pool = new ThreadPool(1);
    const cache = new SliceCache(1 << 20);
    try {
      const tiny = { seed: 'abcd', matrix_size: 2, iterations: 1 };
      const result = await run(syntheticRunner({ pool, cache }), syntheticJob(tiny));
      expect(result.proofs).toEqual([runSyntheticSync(tiny).proof]);
      expect(result.reported).toEqual([[0, result.proofs[0]]]);
      expect(pool.threadCount).toBe(0);
      expect(cache.hits + cache.misses).toBe(0);
    } finally {
      await pool.close();
    }
  });

  it('gives the same proofs for many jobs run in parallel as one after another', async () => {
    const jobs = Array.from({ length: 8 }, (_, i) =>
      syntheticJob({ ...params, seed: `0${i}`, iterations: 1 + (i % 3) }),
    );
    const serial: string[] = [];
    for (const j of jobs)
      serial.push(...(await run(syntheticRunner({ pool: serialPool, cache: null }), j)).proofs);
    const parallel = await Promise.all(
      jobs.map((j) => run(syntheticRunner({ pool: parallelPool, cache: null }), j)),
    );
    expect(parallel.flatMap((r) => r.proofs)).toEqual(serial);
  });
});

describe('job executor', () => {
  const runners = createRunners({}, { pool: serialPool, cache: null });
  const executor = new JobExecutor(runners);
  const signal = new AbortController().signal;
  const outcome = (msg: Parameters<JobExecutor['execute']>[0]) =>
    executor.execute(msg, signal, () => undefined);

  it('returns a result whose hash is the Merkle root of its proofs', async () => {
    const msg = bytesJob(bytes(3 * 1024 * 1024 + 5));
    const out = await outcome(msg);
    expect(out.kind).toBe('result');
    if (out.kind !== 'result') return;
    expect(out.message.proof).toHaveLength(4);
    expect(out.message.result_hash).toBe(proofRoot(out.message.proof));
    expect(out.message.job_id).toBe(msg.job_id);
  });

  it('fails types without a runner as unsupported and bad payloads as invalid_payload', async () => {
    const training = job(
      'training',
      { model_architecture: 'resnet50', dataset_url: 'https://x/y', epochs: 1, batch_size: 1 },
      [{ index: 0, units: 1, kind: 'whole' }],
    );
    expect(await outcome(training)).toMatchObject({ kind: 'failed', message: { reason: 'unsupported' } });
    const unknown = {
      ...syntheticJob({ seed: '00', matrix_size: 1, iterations: 1 }),
      challenge_type: 'mining',
    };
    expect(await outcome(unknown as never)).toMatchObject({
      kind: 'failed',
      message: { reason: 'unsupported' },
    });
    const bad = syntheticJob({ seed: 'not hex', matrix_size: 1, iterations: 1 });
    expect(await outcome(bad)).toMatchObject({ kind: 'failed', message: { reason: 'invalid_payload' } });
    const wrongKind = { ...syntheticJob({ seed: '00', matrix_size: 1, iterations: 1 }) };
    wrongKind.slices = [{ index: 0, units: 1, kind: 'frame', frame: 1 }];
    expect(await outcome(wrongKind)).toMatchObject({
      kind: 'failed',
      message: { reason: 'invalid_payload' },
    });
  });

  it('reports a runner bug as runner_error and a cancel as nothing at all', async () => {
    const broken = new JobExecutor({ synthetic: () => Promise.reject(new TypeError('oops')) });
    const msg = syntheticJob({ seed: '00', matrix_size: 1, iterations: 1 });
    expect(await broken.execute(msg, signal, () => undefined)).toMatchObject({
      kind: 'failed',
      message: { reason: 'runner_error', message: 'oops' },
    });
    const failing = new JobExecutor({ synthetic: () => Promise.reject(new JobFailure('timeout', 'slow')) });
    expect(await failing.execute(msg, signal, () => undefined)).toMatchObject({
      message: { reason: 'timeout' },
    });
    const cancel = new AbortController();
    const pending = executor.execute(
      syntheticJob({ seed: '00', matrix_size: 200, iterations: 10_000 }),
      cancel.signal,
      () => undefined,
    );
    cancel.abort(new Error('customer cancelled'));
    expect(await pending).toEqual({ kind: 'cancelled' });
  });
});
