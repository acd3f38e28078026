// examples/workloads: every request example is a valid POST /tasks body, the slice files are
// what generate_slice.py makes, their proofs are BLAKE3 of the file, worker.toml is a valid
// config, and the toy renderer works as a rendering command.

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { blake3 } from '@noble/hashes/blake3.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { Ajv } from 'ajv';
import { afterAll, describe, expect, it } from 'vitest';
import { proofRoot } from '../../src/domain/merkle.js';
import { CreateTaskBody } from '../../src/domain/schemas/tasks.js';
import { buildCapability } from '../../src/worker/capability.js';
import { loadWorkerConfig } from '../../src/worker/config.js';
import { ThreadPool } from '../../src/worker/pool.js';
import { commandRunner } from '../../src/worker/runners/command.js';
import { hashSliceFile } from '../../src/worker/slice-file.js';
import { job, run } from './fixtures.js';

const DIR = fileURLToPath(new URL('../../examples/workloads/', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const hasPython = spawnSync('python3', ['--version']).status === 0;
const tmp = mkdtempSync(join(tmpdir(), 'taskmarket-examples-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** generate_slice.py's algorithm, restated: SHA-256 in counter mode over a domain and the seed. */
function sliceBytes(seed: string, size: number): Buffer {
  const blocks: Buffer[] = [];
  for (let i = 0, n = 0; n < size; i++, n += 32) {
    const counter = Buffer.alloc(8);
    counter.writeBigUInt64LE(BigInt(i));
    blocks.push(
      createHash('sha256').update(Buffer.from('taskmarket slice v1\0')).update(seed).update(counter).digest(),
    );
  }
  return Buffer.concat(blocks).subarray(0, size);
}

describe('example task requests', () => {
  const ajv = new Ajv({ strict: false, discriminator: true });
  const validate = ajv.compile(CreateTaskBody);
  const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));

  it('includes the four the spec names', () => {
    expect(files.sort()).toEqual([
      'cpu_only.json',
      'gpu_inference.json',
      'multi_gpu.json',
      'tpu_inference.json',
    ]);
  });

  it.each(files)('%s is a valid POST /tasks body with requirements', (file) => {
    const body = JSON.parse(readFileSync(join(DIR, file), 'utf8')) as { requirements?: object };
    expect(validate(body), JSON.stringify(validate.errors)).toBe(true);
    expect(body.requirements).toBeDefined();
  });

  it('asks for what the spec says', () => {
    const read = (f: string) => JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Record<string, unknown>;
    expect(read('gpu_inference.json')).toMatchObject({
      challenge_type: 'inference',
      requirements: { gpu_model: 'RTX4090', gpu_memory_mb: 16384 },
    });
    expect(read('cpu_only.json')).toMatchObject({
      challenge_type: 'synthetic',
      requirements: { cpu_cores: 4 },
    });
    expect(read('cpu_only.json').requirements).not.toHaveProperty('gpu_model');
    expect(read('multi_gpu.json')).toMatchObject({
      challenge_type: 'training',
      requirements: { gpu_count: 4, gpu_memory_mb: 40960, gpu_model: 'A100', frameworks: ['pytorch'] },
    });
    expect(read('tpu_inference.json')).toMatchObject({
      requirements: { accelerator: 'TPU', accelerator_memory_mb: 16384 },
    });
  });
});

describe('slice files', () => {
  it('are what generate_slice.py makes from their seeds', () => {
    expect(readFileSync(join(DIR, 'transcode.slice')).equals(sliceBytes('transcode', 65_536))).toBe(true);
    expect(readFileSync(join(DIR, 'gpuhash.slice')).equals(sliceBytes('gpuhash', 1_572_864))).toBe(true);
  });

  it.skipIf(!hasPython)('match generate_slice.py itself', () => {
    const out = join(tmp, 'again.slice');
    execFileSync(
      'python3',
      [join(DIR, 'generate_slice.py'), '--seed', 'transcode', '--size', '65536', '--out', out],
      { stdio: 'ignore' },
    );
    expect(readFileSync(out).equals(readFileSync(join(DIR, 'transcode.slice')))).toBe(true);
  });

  it('prove as BLAKE3 of the file, and as 1 MiB slices under a Merkle root', async () => {
    for (const name of ['transcode.slice', 'gpuhash.slice']) {
      const data = readFileSync(join(DIR, name));
      const report = await hashSliceFile(join(DIR, name));
      expect(report.proof).toBe(bytesToHex(blake3(data)));
      expect(report.bytes).toBe(data.length);
      const slices = [];
      for (let start = 0; start < data.length; start += 1 << 20)
        slices.push(bytesToHex(blake3(data.subarray(start, start + (1 << 20)))));
      expect(report.slices).toEqual(slices);
      expect(report.result_hash).toBe(proofRoot(slices));
    }
    expect((await hashSliceFile(join(DIR, 'gpuhash.slice'))).slices).toHaveLength(2);
  });
});

describe('worker.toml and render_frame.py', () => {
  it('is a valid worker config with a rendering runner', () => {
    const config = loadWorkerConfig({ file: join(DIR, 'worker.toml') });
    // Relative to the config file, wherever the worker starts: commands run in a temporary directory.
    expect(config.runners.rendering?.command).toEqual(['python3', join(DIR, 'render_frame.py')]);
    const cap = buildCapability({ cpuCores: 8, memoryMb: 16_000, gpu: null }, config);
    expect(cap.challenge_types).toContain('rendering');
  });

  it('has a quick-start worker whose runners are next to it, and whose stand-in trainer writes a checkpoint', async () => {
    const config = loadWorkerConfig({ file: join(DIR, 'tiny-worker.toml') });
    expect(config.runners.inference?.gguf.tiny?.model_path).toBe(join(ROOT, 'models/tiny.gguf'));
    expect(config.runners.rendering?.command).toEqual(['python3', join(DIR, 'render_frame.py')]);
    expect(config.runners.training?.command).toEqual(['python3', join(DIR, 'train_stub.py')]);
    const cap = buildCapability({ cpuCores: 2, memoryMb: 4096, gpu: null }, config);
    expect(cap.challenge_types).toEqual([
      'inference',
      'training',
      'rendering',
      'synthetic',
      'transcode',
      'gpuhash',
    ]);
    expect(cap.models).toEqual(['tiny']);
    if (!hasPython) return;
    const pool = new ThreadPool(1);
    try {
      const runner = commandRunner({
        argv: config.runners.training!.command,
        timeoutMs: 20_000,
        maxOutputBytes: 1 << 20,
        pool,
        cache: null,
      });
      const payload = {
        model_architecture: 'resnet50',
        dataset_url: 'https://example.com/d.tar',
        epochs: 1,
        batch_size: 8,
      };
      const first = await run(runner, job('training', payload, [{ index: 0, units: 1, kind: 'whole' }]));
      expect(first.output?.artifacts?.map((a) => a.name)).toEqual(['model.json']);
      const again = await run(runner, job('training', payload, [{ index: 0, units: 1, kind: 'whole' }]));
      expect(again.proofs).toEqual(first.proofs);
    } finally {
      await pool.close();
    }
  });

  it.skipIf(!hasPython)('renders one file per frame through the command runner', async () => {
    const pool = new ThreadPool(1);
    try {
      const runner = commandRunner({
        argv: ['python3', join(ROOT, 'examples/workloads/render_frame.py')],
        timeoutMs: 20_000,
        maxOutputBytes: 1 << 20,
        pool,
        cache: null,
      });
      const frames = [1, 2].map((frame, index) => ({ index, units: 1, kind: 'frame' as const, frame }));
      const msg = job(
        'rendering',
        { scene_file: 'https://scenes.example/a.blend', resolution: '1920x1080', frames: 2 },
        frames,
      );
      const first = await run(runner, msg);
      expect(first.output?.artifacts?.map((a) => a.name)).toEqual(['frame-1/frame.ppm', 'frame-2/frame.ppm']);
      expect(Buffer.from(first.output!.artifacts![0]!.data, 'base64').subarray(0, 12).toString()).toBe(
        'P6 64 36 255',
      );
      expect(first.proofs[0]).not.toBe(first.proofs[1]);
      expect((await run(runner, msg)).proofs).toEqual(first.proofs);
    } finally {
      await pool.close();
    }
  });
});
