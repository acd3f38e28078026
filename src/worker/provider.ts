// Assembles a provider agent from its configuration: key, detected capability, thread pool,
// slice cache and runners. The one place that knows how the worker's parts fit together, so the
// CLI and an embedding program build the same agent.

import type { Logger } from 'pino';
import type { KeyFile } from '../domain/identity.js';
import type { Capability } from '../domain/schemas/capability.js';
import { WorkerAgent } from './agent.js';
import { SliceCache } from './cache.js';
import { buildCapability, detectHardware, type Hardware } from './capability.js';
import { gatewayUrl, threadCount, type WorkerConfig } from './config.js';
import { ThreadPool } from './pool.js';
import { createRunners } from './runners/registry.js';

export const AGENT_NAME = 'taskmarket-worker/0.1.0';

export interface ProviderParts {
  agent: WorkerAgent;
  capability: Capability;
  pool: ThreadPool;
}

export interface ProviderOptions {
  key: KeyFile;
  logger: Logger;
  /** Detected when not given. */
  hardware?: Hardware;
}

export async function createProvider(config: WorkerConfig, opts: ProviderOptions): Promise<ProviderParts> {
  const hardware = opts.hardware ?? (await detectHardware());
  const capability = buildCapability(hardware, config);
  const pool = new ThreadPool(threadCount(config, hardware.cpuCores));
  const cache = config.cache_max_bytes > 0 ? new SliceCache(config.cache_max_bytes) : null;
  const agent = new WorkerAgent({
    url: gatewayUrl(config.url),
    key: opts.key,
    capability,
    slots: config.slots,
    runners: createRunners(config.runners, { pool, cache }),
    offer: config.offer,
    logger: opts.logger,
    reconnect: {
      initialDelayMs: config.reconnect.initial_delay_ms,
      maxDelayMs: config.reconnect.max_delay_ms,
    },
    agentName: AGENT_NAME,
    onStopped: () => pool.close(),
  });
  return { agent, capability, pool };
}
