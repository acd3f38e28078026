// What the provider's commands do (registered in worker.ts, which imports this module only when
// one of them runs, so `taskmarket --help` does not load the agent, Ajv or llama.cpp).
//
// The worker says what it does on stderr as JSON lines (pino). When stdout is a terminal it also
// tells the person there, on stdout: the self-test's checks, what it offers and, every
// summary_interval_ms, a summary line (jobs, units, earned at its price); without a terminal
// the summary is a JSON log line instead.

import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import pino from 'pino';
import { systemClock } from '../domain/clock.js';
import { ConfigError } from '../market/config.js';
import { buildCapability, detectHardware } from '../worker/capability.js';
import {
  gatewayUrl,
  loadWorkerConfig,
  threadCount,
  WorkerConfigError,
  type WorkerConfig,
} from '../worker/config.js';
import { KeyFileError, loadKeyFile, writeNewKeyFile } from '../worker/keyfile.js';
import { ThreadPool } from '../worker/pool.js';
import { createProvider } from '../worker/provider.js';
import { createLlamaEngine } from '../worker/runners/registry.js';
import { writeTinyGguf } from '../worker/runners/tiny-gguf.js';
import { formatCheck, runSelfTest } from '../worker/self-test.js';
import { hashSliceFile } from '../worker/slice-file.js';
import { formatSummary, summaryFields, WorkerSummary } from '../worker/summary.js';
import { EXIT } from './exit-codes.js';

export interface WorkerOpts {
  key?: string;
  config?: string;
  slots?: string;
  price?: string;
  units?: string;
  feePctCt?: string;
  logLevel?: string;
  printCapability?: boolean;
  selfTest?: boolean;
  skipSelfTest?: boolean;
}

/** The worker's own errors become the CLI's usage errors (exit 2), reported as one line. */
async function asUsage<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof WorkerConfigError || err instanceof KeyFileError) throw new ConfigError(err.message);
    throw err;
  }
}

function workerConfig(opts: WorkerOpts, cmd: Command): WorkerConfig {
  const root = cmd.parent as Command;
  // The root's --url defaults to the node's HTTP URL; only an explicit one (flag or
  // TASKMARKET_URL) overrides the config file's url.
  const given = root.getOptionValueSource('url') !== 'default';
  const url = (given && root.opts<{ url: string }>().url) || undefined;
  return loadWorkerConfig({
    file: opts.config,
    flags: {
      url,
      key_file: opts.key,
      slots: opts.slots,
      log_level: opts.logLevel,
      price_per_unit: opts.price,
      units: opts.units,
      fee_pct_ct: opts.feePctCt,
      ...(opts.skipSelfTest ? { self_test: false } : {}),
    },
  });
}

/** `worker --self-test`: every runner on a tiny job, one line each; exit 1 when any fails. */
async function selfTestOnly(config: WorkerConfig): Promise<void> {
  const hardware = await detectHardware();
  const threads = threadCount(config, hardware.cpuCores);
  const pool = new ThreadPool(threads);
  const llama = createLlamaEngine(config.runners.inference, threads, (level, message) =>
    process.stderr.write(`llama.cpp ${level}: ${message}\n`),
  );
  try {
    const report = await runSelfTest(config, {
      pool,
      llama,
      timeoutMs: config.self_test_timeout_ms,
      onCheck: (check) => process.stdout.write(`${formatCheck(check)}\n`),
    });
    if (llama)
      process.stdout.write(`llama.cpp backend: ${await llama.backend().catch(() => 'unavailable')}\n`);
    const failed = report.checks.filter((c) => !c.ok).length;
    process.stdout.write(
      failed === 0
        ? `all ${report.checks.length} checks passed\n`
        : `${failed} of ${report.checks.length} checks failed: the worker will not offer them\n`,
    );
    if (failed > 0) process.exitCode = EXIT.failure;
  } finally {
    await pool.close();
    await llama?.close();
  }
}

async function runWorkerNow(opts: WorkerOpts, cmd: Command): Promise<void> {
  const config = workerConfig(opts, cmd);
  if (opts.selfTest) return selfTestOnly(config);
  if (opts.printCapability) {
    process.stdout.write(JSON.stringify(buildCapability(await detectHardware(), config), null, 2) + '\n');
    return;
  }
  if (!config.key_file)
    throw new WorkerConfigError('a key file is required: --key FILE (or key_file in the config)');
  const { key, warning } = loadKeyFile(config.key_file);
  const logger = pino(
    { level: config.log_level, base: { service: 'taskmarket-worker' } },
    pino.destination({ dest: 2, sync: true }),
  );
  if (warning) logger.warn(warning);
  const tty = process.stdout.isTTY === true;
  const say = (line: string) => tty && process.stdout.write(`${line}\n`);
  if (config.self_test) say('self-test: every configured runner on a tiny job');
  const { agent, capability } = await createProvider(config, {
    key,
    logger,
    onSelfTestCheck: (check) => say(`  ${formatCheck(check)}`),
  });
  logger.info(
    { address: key.address, url: gatewayUrl(config.url), slots: config.slots, capability },
    'worker starting',
  );
  say(
    `worker ${key.address} offering ${capability.challenge_types.join(', ')}` +
      (capability.models.length ? ` (models: ${capability.models.join(', ')})` : '') +
      (config.offer
        ? ` at ${config.offer.price_per_unit} per unit`
        : ' (no offer: set [offer] or --price/--units)') +
      ` to ${gatewayUrl(config.url)}`,
  );
  const summary = new WorkerSummary(agent.events, config.offer?.price_per_unit);
  const summaryTimer =
    config.summary_interval_ms > 0
      ? setInterval(() => {
          const snap = summary.snapshot(true);
          if (tty) say(formatSummary(snap, config.summary_interval_ms));
          else logger.info({ summary: summaryFields(snap) }, 'summary');
        }, config.summary_interval_ms)
      : undefined;
  summaryTimer?.unref();

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }
    logger.info({ signal, grace_ms: config.shutdown_grace_ms }, 'shutting down (send again to exit at once)');
    void agent.stop(config.shutdown_grace_ms);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  agent.start();
  const reason = await agent.done;
  clearInterval(summaryTimer);
  summary.close();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  if (reason.kind === 'fatal') {
    process.stderr.write(`error: the market refused this worker (close ${reason.code}: ${reason.reason})\n`);
    process.exitCode = EXIT.failure;
  }
}

export function runWorker(opts: WorkerOpts, cmd: Command): Promise<void> {
  return asUsage(() => runWorkerNow(opts, cmd));
}

export function makeTestModel(opts: { out: string; seed: string }): Promise<void> {
  return asUsage(async () => {
    if (!/^[0-9]{1,9}$/.test(opts.seed)) throw new WorkerConfigError('--seed must be an integer');
    await mkdir(dirname(resolve(opts.out)), { recursive: true });
    const bytes = await writeTinyGguf(opts.out, { seed: Number(opts.seed) });
    process.stdout.write(
      `wrote ${opts.out} (${bytes} bytes). Serve it from the worker's config:\n\n` +
        `[runners.inference.gguf.tiny]\nmodel_path = "${resolve(opts.out)}"\n`,
    );
  });
}

export function keygen(opts: { out: string; name: string }): Promise<void> {
  return asUsage(async () => {
    const file = writeNewKeyFile(opts.out, opts.name, systemClock);
    process.stdout.write(`${file.address}\n`);
  });
}

export async function runWorkload(file: string, opts: { json?: boolean }): Promise<void> {
  let report;
  try {
    report = await hashSliceFile(file);
  } catch (err) {
    throw new ConfigError(
      `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  process.stdout.write(opts.json ? JSON.stringify(report, null, 2) + '\n' : `${report.proof}\n`);
}
