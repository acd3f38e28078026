// Assembles a provider agent from its configuration: key, detected capability, thread pool,
// slice cache, runners (with the llama.cpp engine when GGUF models are configured) and the
// self-test that decides what is offered. The one place that knows how the worker's parts fit
// together, so the CLI and an embedding program build the same agent.

import type { Logger } from 'pino';
import type { KeyFile } from '../domain/identity.js';
import type { Capability } from '../domain/schemas/capability.js';
import { WorkerAgent } from './agent.js';
import { SliceCache } from './cache.js';
import { buildCapability, detectHardware, type Hardware } from './capability.js';
import { gatewayUrl, threadCount, type WorkerConfig } from './config.js';
import { ThreadPool } from './pool.js';
import { createLlamaEngine, createRunners, type RunnerSet } from './runners/registry.js';
import { runSelfTest, type SelfTestCheck, type SelfTestReport } from './self-test.js';

export const AGENT_NAME = 'taskmarket-worker/0.1.0';

export interface ProviderParts {
  agent: WorkerAgent;
  capability: Capability;
  pool: ThreadPool;
  /** Null when the self-test was off. */
  selfTest: SelfTestReport | null;
}

export interface ProviderOptions {
  key: KeyFile;
  logger: Logger;
  /** Detected when not given. */
  hardware?: Hardware;
  /** Run the self-test first and offer only what passes; config.self_test when not given. */
  selfTest?: boolean;
  /** Told of each self-test check as it ends (the CLI prints them); they are logged too. */
  onSelfTestCheck?: (check: SelfTestCheck) => void;
}

export async function createProvider(config: WorkerConfig, opts: ProviderOptions): Promise<ProviderParts> {
  const hardware = opts.hardware ?? (await detectHardware());
  const threads = threadCount(config, hardware.cpuCores);
  const pool = new ThreadPool(threads);
  const llama = createLlamaEngine(config.runners.inference, threads, (level, message) =>
    opts.logger[level]({ component: 'llama.cpp' }, message),
  );
  const release = async () => {
    await pool.close();
    await llama?.close();
  };
  let capability: Capability;
  let selfTest: SelfTestReport | null = null;
  try {
    if (opts.selfTest ?? config.self_test)
      selfTest = await runSelfTest(config, {
        pool,
        llama,
        timeoutMs: config.self_test_timeout_ms,
        onCheck: (check) => {
          const { type, model, ms, problem } = check;
          if (check.ok) opts.logger.info({ type, model, ms }, 'self-test passed');
          else opts.logger.warn({ type, model, problem }, `self-test failed: not offering ${model ?? type}`);
          opts.onSelfTestCheck?.(check);
        },
      });
    capability = buildCapability(hardware, config, selfTest?.passed);
    if (llama && capability.models.some((m) => llama.has(m)))
      opts.logger.info({ backend: await llama.backend() }, 'llama.cpp ready');
  } catch (err) {
    await release();
    throw err;
  }
  const cache = config.cache_max_bytes > 0 ? new SliceCache(config.cache_max_bytes) : null;
  const all = createRunners(config.runners, { pool, cache, llama });
  // What is not offered is not run either: a job of another type is refused as unsupported.
  const runners: RunnerSet = {};
  for (const type of capability.challenge_types) runners[type] = all[type];
  const agent = new WorkerAgent({
    url: gatewayUrl(config.url),
    key: opts.key,
    capability,
    slots: config.slots,
    runners,
    offer: config.offer,
    logger: opts.logger,
    reconnect: {
      initialDelayMs: config.reconnect.initial_delay_ms,
      maxDelayMs: config.reconnect.max_delay_ms,
    },
    agentName: AGENT_NAME,
    onStopped: release,
  });
  return { agent, capability, pool, selfTest };
}
