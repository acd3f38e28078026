// Which runner executes each challenge type, built from the worker's config. A type missing
// from the set is one this agent cannot run: its jobs fail as `unsupported`.

import type { ChallengeType } from '../../domain/schemas/payloads.js';
import type { SliceCache } from '../cache.js';
import type { RunnersConfig } from '../config.js';
import type { ThreadPool } from '../pool.js';
import { commandRunner } from './command.js';
import { hashRunner } from './hash.js';
import { inferenceRunner } from './inference.js';
import { syntheticRunner } from './synthetic-job.js';
import type { Runner } from './types.js';

export type RunnerSet = Partial<Record<ChallengeType, Runner>>;

export interface RunnerDeps {
  pool: ThreadPool;
  cache: SliceCache | null;
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
        ? { command: { argv: c.command, timeoutMs: c.timeout_ms, maxOutputBytes: c.max_output_bytes } }
        : {}),
    });
  }
  if (config.inference) {
    const c = config.inference;
    runners.inference = inferenceRunner({
      url: c.url,
      models: c.models,
      timeoutMs: c.timeout_ms,
      apiKey: c.api_key,
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
      });
  }
  return runners;
}
