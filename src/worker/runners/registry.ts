// Which runner executes each challenge type, built from the worker's config. A type missing
// from the set is one this agent cannot run: its jobs fail as `unsupported`.

import type { ChallengeType } from '../../domain/schemas/payloads.js';
import type { SliceCache } from '../cache.js';
import type { InferenceConfig, RunnersConfig } from '../config.js';
import type { ThreadPool } from '../pool.js';
import { commandRunner } from './command.js';
import { hashRunner } from './hash.js';
import { inferenceRunner } from './inference.js';
import { LlamaEngine, type LlamaEngineOptions } from './llama.js';
import { syntheticRunner } from './synthetic-job.js';
import type { Runner } from './types.js';

export type RunnerSet = Partial<Record<ChallengeType, Runner>>;

export interface RunnerDeps {
  pool: ThreadPool;
  cache: SliceCache | null;
  /** Runs the GGUF models of runners.inference.gguf (see createLlamaEngine); the caller closes it. */
  llama?: LlamaEngine | null;
  /** Added to the environment of every external command. */
  env?: Readonly<Record<string, string>>;
}

/** The llama.cpp engine for the config's GGUF models, or null when it has none. */
export function createLlamaEngine(
  config: InferenceConfig | undefined,
  threads: number,
  log?: LlamaEngineOptions['log'],
): LlamaEngine | null {
  const gguf = Object.entries(config?.gguf ?? {});
  if (!config || gguf.length === 0) return null;
  return new LlamaEngine({
    models: new Map(
      gguf.map(([id, m]) => [
        id,
        { modelPath: m.model_path, gpuLayers: m.gpu_layers, contextSize: m.context_size },
      ]),
    ),
    gpu: config.gpu,
    threads: config.threads > 0 ? config.threads : threads,
    ...(log ? { log } : {}),
  });
}

export function createRunners(config: RunnersConfig, deps: RunnerDeps): RunnerSet {
  const { pool, cache } = deps;
  const runners: RunnerSet = { synthetic: syntheticRunner({ pool, cache }) };
  for (const type of ['transcode', 'gpuhash'] as const) {
    const c = config[type];
    runners[type] = hashRunner({
      pool,
      cache,
      concurrency: pool.size,
      ...(c?.command
        ? {
            command: {
              argv: c.command,
              timeoutMs: c.timeout_ms,
              maxOutputBytes: c.max_output_bytes,
              ...(deps.env ? { env: deps.env } : {}),
            },
          }
        : {}),
    });
  }
  if (config.inference) {
    const c = config.inference;
    runners.inference = inferenceRunner({
      url: c.url,
      models: c.models,
      endpoint: c.endpoint,
      timeoutMs: c.timeout_ms,
      apiKey: c.api_key,
      llama: deps.llama ?? null,
      cache,
    });
  }
  for (const type of ['training', 'rendering'] as const) {
    const c = config[type];
    if (c)
      runners[type] = commandRunner({
        argv: c.command,
        timeoutMs: c.timeout_ms,
        maxOutputBytes: c.max_output_bytes,
        pool,
        cache,
        ...(deps.env ? { env: deps.env } : {}),
      });
  }
  return runners;
}
