// The embedded llama.cpp runner on the suite's own tiny GGUF model (random weights, written by
// the test): it loads on the CPU, generates, replicates byte for byte (same prompt, another
// engine, same text), proves the text with BLAKE3, and fails by name (unknown model, missing
// file, cancel, timeout).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { blake3 } from '@noble/hashes/blake3.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inferenceRunner, jobSeed } from '../../src/worker/runners/inference.js';
import { LlamaEngine, type GgufModelSpec } from '../../src/worker/runners/llama.js';
import { tinyGguf, tinyVocabulary } from '../../src/worker/runners/tiny-gguf.js';
import { job, run } from './fixtures.js';
import { tinyModelDir } from './tiny-model.js';

const models = tinyModelDir();
let modelPath = '';
const engines: LlamaEngine[] = [];

function engine(extra: Record<string, GgufModelSpec> = {}): LlamaEngine {
  const e = new LlamaEngine({
    models: new Map([['tiny', { modelPath, gpuLayers: 'auto', contextSize: 512 }], ...Object.entries(extra)]),
    gpu: 'auto',
    threads: 1,
  });
  engines.push(e);
  return e;
}

const whole = [{ index: 0, units: 1, kind: 'whole' as const }];
const payload = (prompt: string, extra: Record<string, unknown> = {}) => ({
  model_id: 'tiny',
  prompt,
  max_tokens: 12,
  temperature: 0,
  ...extra,
});

beforeAll(async () => {
  modelPath = await models.model();
});

afterAll(async () => {
  for (const e of engines) await e.close();
  models.remove();
});

describe('tiny GGUF model', () => {
  it('is the same file for the same seed, another for another seed', async () => {
    expect(readFileSync(modelPath).equals(tinyGguf())).toBe(true);
    expect(tinyGguf({ seed: 2 }).equals(tinyGguf())).toBe(false);
    expect(readFileSync(modelPath).subarray(0, 4).toString('latin1')).toBe('GGUF');
    // Every byte has a fallback token, so any prompt tokenizes.
    expect(tinyVocabulary().tokens.filter((t) => /^<0x[0-9A-F]{2}>$/.test(t))).toHaveLength(256);
  });
});

describe('llama.cpp runner', () => {
  it('generates text and proves it with BLAKE3; the same prompt gives the same text', async () => {
    const runner = inferenceRunner({ timeoutMs: 120_000, llama: engine(), cache: null });
    const first = await run(runner, job('inference', payload('Hello, world!'), whole));
    const text = first.output?.text ?? '';
    expect(text.length).toBeGreaterThan(0);
    expect(first.proofs).toEqual([bytesToHex(blake3(utf8ToBytes(text)))]);
    const again = await run(runner, job('inference', payload('Hello, world!'), whole));
    expect(again.output?.text).toBe(text);
    const other = await run(runner, job('inference', payload('Something else entirely'), whole));
    expect(other.output?.text).not.toBe(text);
  });

  it('replicates on another engine (another worker), sampled runs too: the seed is the payload’s', async () => {
    const a = inferenceRunner({ timeoutMs: 120_000, llama: engine(), cache: null });
    const b = inferenceRunner({ timeoutMs: 120_000, llama: engine(), cache: null });
    for (const temperature of [0, 0.9]) {
      const msg = payload('replicate me', { temperature, max_tokens: 16 });
      const [x, y] = [await run(a, job('inference', msg, whole)), await run(b, job('inference', msg, whole))];
      expect(y.output?.text).toBe(x.output?.text);
      expect(y.proofs).toEqual(x.proofs);
    }
    const seedOf = (temperature: number) =>
      jobSeed({ model: 'tiny', prompt: 'p', maxTokens: 1, temperature });
    expect(seedOf(0)).not.toBe(seedOf(0.5));
    expect(seedOf(0)).toBeLessThan(2 ** 31);
  });

  it('runs on the CPU when told, with the same text as the default backend on this machine', async () => {
    const cpu = new LlamaEngine({
      models: new Map([['tiny', { modelPath, gpuLayers: 0, contextSize: 512 }]]),
      gpu: 'cpu',
      threads: 1,
    });
    engines.push(cpu);
    expect(await cpu.backend()).toBe('cpu');
    const text = await cpu.complete('tiny', {
      prompt: 'Hello, world!',
      maxTokens: 12,
      temperature: 0,
      seed: 1,
      signal: new AbortController().signal,
    });
    const auto = engine();
    if ((await auto.backend()) === 'cpu')
      expect(
        (
          await run(
            inferenceRunner({ timeoutMs: 120_000, llama: auto, cache: null }),
            job('inference', payload('Hello, world!'), whole),
          )
        ).output?.text,
      ).toBe(text);
  });

  it('refuses a model it does not have, and names a missing file', async () => {
    const runner = inferenceRunner({
      timeoutMs: 120_000,
      llama: engine({
        gone: { modelPath: join(models.dir, 'missing.gguf'), gpuLayers: 0, contextSize: 512 },
      }),
      cache: null,
    });
    await expect(
      run(runner, job('inference', payload('x', { model_id: 'other' }), whole)),
    ).rejects.toMatchObject({ reason: 'unsupported' });
    await expect(
      run(runner, job('inference', payload('x', { model_id: 'gone' }), whole)),
    ).rejects.toMatchObject({ reason: 'runner_error', message: expect.stringContaining('missing.gguf') });
  });

  it('stops on a cancel and on its timeout', async () => {
    const e = engine();
    const long = payload('go on forever', { max_tokens: 100_000 });
    // Loaded first, so the cancel and the timeout meet a generation rather than a load.
    await run(
      inferenceRunner({ timeoutMs: 120_000, llama: e, cache: null }),
      job('inference', payload('warm up'), whole),
    );
    const cancel = new AbortController();
    const pending = run(
      inferenceRunner({ timeoutMs: 600_000, llama: e, cache: null }),
      job('inference', long, whole),
      cancel.signal,
    );
    cancel.abort(new Error('cancelled by the market'));
    await expect(pending).rejects.toThrow('cancelled by the market');
    await expect(
      run(inferenceRunner({ timeoutMs: 200, llama: e, cache: null }), job('inference', long, whole)),
    ).rejects.toMatchObject({ reason: 'timeout' });
  });
});
