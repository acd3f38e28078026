// Capability detection: nvidia-smi output parsed from sample text (single, multi and mixed GPU
// machines, junk), CPU-only when nvidia-smi is missing, runners deciding the challenge types,
// and the config's overrides checked.

import { describe, expect, it } from 'vitest';
import { Capability } from '../../src/domain/schemas/capability.js';
import {
  buildCapability,
  detectHardware,
  cleanGpuName,
  parseNvidiaSmi,
  type Hardware,
} from '../../src/worker/capability.js';
import { loadWorkerConfig, type WorkerConfig } from '../../src/worker/config.js';
import { schemaProblems } from '../../src/worker/schema-check.js';

describe('nvidia-smi parsing', () => {
  it('keeps nvidia-smi names, cleaned to what a capability name allows', () => {
    expect(cleanGpuName('NVIDIA GeForce RTX 4090')).toBe('NVIDIA GeForce RTX 4090');
    expect(cleanGpuName('  NVIDIA   A100-SXM4-40GB ')).toBe('NVIDIA A100-SXM4-40GB');
    expect(cleanGpuName('(new) Tesla V100™')).toBe('new Tesla V100');
    expect(cleanGpuName('x'.repeat(100))).toHaveLength(64);
    expect(cleanGpuName('™')).toBe('unknown');
  });

  it('reads one GPU', () => {
    expect(parseNvidiaSmi('NVIDIA GeForce RTX 4090, 24564\n')).toEqual({
      model: 'NVIDIA GeForce RTX 4090',
      count: 1,
      memoryMb: 24564,
    });
  });

  it('counts identical GPUs', () => {
    const text = [0, 1, 2, 3].map(() => 'NVIDIA A100-SXM4-40GB, 40960').join('\n') + '\n';
    expect(parseNvidiaSmi(text)).toEqual({ model: 'NVIDIA A100-SXM4-40GB', count: 4, memoryMb: 40960 });
  });

  it('advertises the majority model of a mixed machine, with its smallest memory', () => {
    const text =
      'NVIDIA GeForce RTX 3090, 24576\r\nNVIDIA H100 80GB HBM3, 81559\r\nNVIDIA H100 80GB HBM3, 81200\r\n';
    expect(parseNvidiaSmi(text)).toEqual({ model: 'NVIDIA H100 80GB HBM3', count: 2, memoryMb: 81200 });
  });

  it('tolerates unknown memory and junk, and gives null for nothing usable', () => {
    expect(parseNvidiaSmi('NVIDIA H100 80GB HBM3, [N/A]\n')).toEqual({
      model: 'NVIDIA H100 80GB HBM3',
      count: 1,
      memoryMb: 0,
    });
    expect(parseNvidiaSmi('')).toBeNull();
    expect(
      parseNvidiaSmi('NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.'),
    ).toBeNull();
  });
});

const cpuOnly: Hardware = { cpuCores: 8, memoryMb: 32_000, gpu: null };
const config = (over: Record<string, unknown> = {}): WorkerConfig => {
  const { runners, capability, ...rest } = over;
  void rest;
  const c = loadWorkerConfig();
  return { ...c, runners: { ...c.runners, ...(runners as object) }, capability: capability as never };
};

describe('capability', () => {
  it('is CPU-only when nvidia-smi is missing or fails', async () => {
    const hw = await detectHardware(() => Promise.resolve(null));
    expect(hw.gpu).toBeNull();
    expect(hw.cpuCores).toBeGreaterThanOrEqual(1);
    expect(hw.memoryMb).toBeGreaterThan(0);
    const failing = await detectHardware(() => Promise.reject(new Error('ENOENT')));
    expect(failing.gpu).toBeNull();
    const cap = buildCapability(hw, config());
    expect(cap).toMatchObject({
      gpu_model: null,
      gpu_count: 0,
      gpu_memory_mb: 0,
      accelerator: null,
      frameworks: [],
      models: [],
    });
    expect(cap.challenge_types).toEqual(['synthetic', 'transcode', 'gpuhash']);
    expect(schemaProblems(Capability, cap)).toEqual([]);
  });

  it('adds the types and models of configured runners', () => {
    const cap = buildCapability(
      { cpuCores: 16, memoryMb: 64_000, gpu: { model: 'RTX4090', count: 1, memoryMb: 24564 } },
      config({
        runners: {
          inference: {
            url: 'http://127.0.0.1:8000',
            models: ['llama-3-8b'],
            timeout_ms: 1000,
            gguf: { tiny: { model_path: '/m/tiny.gguf', gpu_layers: 'auto', context_size: 512 } },
          },
          rendering: { command: ['blender'], timeout_ms: 1000, max_output_bytes: 1000 },
        },
      }),
    );
    expect(cap).toMatchObject({
      gpu_model: 'RTX4090',
      gpu_count: 1,
      gpu_memory_mb: 24564,
      models: ['llama-3-8b', 'tiny'],
    });
    expect(cap.challenge_types).toEqual(['inference', 'rendering', 'synthetic', 'transcode', 'gpuhash']);
  });

  it('offers only the types and models that passed the self-test', () => {
    const c = config({
      runners: {
        inference: {
          url: 'http://127.0.0.1:8000',
          models: ['llama-3-8b'],
          timeout_ms: 1000,
          gguf: { tiny: { model_path: '/m/tiny.gguf', gpu_layers: 0, context_size: 512 } },
        },
        rendering: { command: ['blender'], timeout_ms: 1000, max_output_bytes: 1000 },
      },
      capability: { challenge_types: ['inference', 'rendering', 'synthetic'] },
    });
    const cap = buildCapability(cpuOnly, c, { types: ['inference', 'synthetic'], models: ['tiny'] });
    expect(cap.challenge_types).toEqual(['inference', 'synthetic']);
    expect(cap.models).toEqual(['tiny']);
    expect(() => buildCapability(cpuOnly, c, { types: [], models: [] })).toThrow(/no runner passed/);
  });

  it('takes overrides from the config and refuses ones that cannot be honoured', () => {
    const cap = buildCapability(
      cpuOnly,
      config({
        capability: {
          accelerator: 'TPU',
          accelerator_memory_mb: 16384,
          frameworks: ['jax'],
          challenge_types: ['synthetic'],
        },
      }),
    );
    expect(cap).toMatchObject({
      accelerator: 'TPU',
      accelerator_memory_mb: 16384,
      frameworks: ['jax'],
      challenge_types: ['synthetic'],
    });
    expect(() => buildCapability(cpuOnly, config({ capability: { challenge_types: ['training'] } }))).toThrow(
      /training has no runner/,
    );
    expect(() => buildCapability(cpuOnly, config({ capability: { models: ['gpt-4'] } }))).toThrow(/gpt-4/);
    expect(() => buildCapability(cpuOnly, config({ capability: { gpu_count: 2 } }))).toThrow(/gpu_model/);
  });
});
