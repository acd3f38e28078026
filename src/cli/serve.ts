// `taskmarket serve`: runs a market node until SIGINT/SIGTERM, then drains and closes cleanly.

import { chmodSync, mkdirSync, statSync } from 'node:fs';
import pino from 'pino';
import { buildApp } from '../api/app.js';
import { configToToml, loadConfig, type Config } from '../market/config.js';
import { Market, operatorKeyPath } from '../market/market.js';
import { trimWhenIdle } from './memory-trim.js';

export interface ServeFlags {
  config?: string;
  host?: string;
  port?: string;
  dataDir?: string;
  databaseUrl?: string;
  logLevel?: string;
  printConfig?: boolean;
}

export function serveConfig(flags: ServeFlags): Config {
  return loadConfig({
    file: flags.config ?? process.env.TASKMARKET_CONFIG,
    env: process.env,
    flags: {
      host: flags.host,
      port: flags.port,
      data_dir: flags.dataDir,
      database_url: flags.databaseUrl,
      log_level: flags.logLevel,
    },
  });
}

/**
 * The data directory holds the node's keys and (on PGlite) its database: only its owner may read it.
 * The umask covers every file the node and PGlite create from here on; PGlite's store also chmods
 * what its initdb wrote 0666 (src/store/pglite-data-dir.ts).
 */
export function prepareDataDir(dir: string): void {
  process.umask(0o077);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { mode } = statSync(dir);
  if ((mode & 0o077) !== 0) chmodSync(dir, mode & 0o700);
}

export async function serve(flags: ServeFlags): Promise<void> {
  const config = serveConfig(flags);
  if (flags.printConfig) {
    process.stdout.write(configToToml(config) + '\n');
    return;
  }
  const logger = pino({ level: config.log_level, base: { service: 'taskmarket' } });
  prepareDataDir(config.data_dir);
  const market = await Market.open({
    config,
    logger,
    operatorKey: process.env.TASKMARKET_OPERATOR_KEY || undefined,
  });
  const app = await buildApp(market);
  await app.listen({ host: config.host, port: config.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  market.start();
  const stopTrimming = trimWhenIdle(config.memory_trim_interval_s, logger);
  logger.info(
    {
      url: `http://${config.host}:${port}`,
      database: config.database_url ? 'postgres' : 'pglite',
      data_dir: config.data_dir,
      operator_key_file: process.env.TASKMARKET_OPERATOR_KEY ? undefined : operatorKeyPath(config.data_dir),
    },
    'market node listening',
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    stopTrimming();
    await app.close();
    await market.close();
    logger.flush();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}
