// `taskmarket serve`: runs a market node until SIGINT/SIGTERM, then drains and closes cleanly.

import pino from 'pino';
import { buildApp } from '../api/app.js';
import { configToToml, loadConfig, type Config } from '../market/config.js';
import { Market, operatorKeyPath } from '../market/market.js';

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

export async function serve(flags: ServeFlags): Promise<void> {
  const config = serveConfig(flags);
  if (flags.printConfig) {
    process.stdout.write(configToToml(config) + '\n');
    return;
  }
  const logger = pino({ level: config.log_level, base: { service: 'taskmarket' } });
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
    await app.close();
    await market.close();
    logger.flush();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}
