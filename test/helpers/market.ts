// A real market node for tests: its own database, a real HTTP listener on a free port,
// an operator client and a helper that makes funded customers.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app.js';
import { ApiError, TaskMarketClient } from '../../src/client/client.js';
import type { ChainPort } from '../../src/chain/port.js';
import type { Clock } from '../../src/domain/clock.js';
import type { SchedulerParams } from '../../src/domain/scheduler-params.js';
import { loadConfig, type Config } from '../../src/market/config.js';
import { Market } from '../../src/market/market.js';
import type { Db } from '../../src/store/db.js';
import { testDb } from './db.js';
import { WorkerPool } from './ws-worker.js';

export const OPERATOR_KEY = 'tmop_test-operator-key-0123456789';
/** The test market's chain signing key (so no test writes a key file). */
export const TEST_CHAIN_KEY = '00000000000000000000000000000000000000000000000000000000000c4a17';

/** The ApiError a request failed with; fails the test if it succeeded. */
export async function apiError(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('expected the request to fail');
}

export interface TestMarket {
  market: Market;
  app: FastifyInstance;
  url: string;
  operator: TaskMarketClient;
  customer(
    fund?: string,
    name?: string,
  ): Promise<{ client: TaskMarketClient; accountId: string; apiKey: string }>;
  close(): Promise<void>;
}

export async function startTestMarket(
  opts: {
    clock?: Clock;
    config?: Partial<Record<keyof Config, unknown>>;
    background?: boolean;
    /**
     * Scheduler parameters while none are stored. Admission and verification are off unless a
     * test turns them on: each has its own tests, and the others count jobs and money exactly.
     */
    params?: Partial<SchedulerParams>;
    /** A chain port instead of the embedded dev chain (e.g. one with failure injection). */
    chain?: ChainPort;
    /** An open database to use (and close) instead of a fresh one, e.g. to restart on it. */
    db?: Db;
  } = {},
): Promise<TestMarket> {
  // Files the node keeps (the price board) go to a directory of its own unless the test names one.
  const tmpDataDir = opts.config?.data_dir ? undefined : mkdtempSync(join(tmpdir(), 'tm-market-'));
  const config = loadConfig({
    flags: { ledger_check_interval_s: 0, port: 0, data_dir: tmpDataDir, ...opts.config },
  });
  const db = opts.db ?? (await testDb());
  const market = await Market.open({
    config,
    db,
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    operatorKey: OPERATOR_KEY,
    chainKey: TEST_CHAIN_KEY,
    ...(opts.chain ? { chain: opts.chain } : {}),
    params: { admission_enabled: false, verification_enabled: false, ...opts.params },
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  const app = await buildApp(market);
  await app.listen({ host: '127.0.0.1', port: 0 });
  // Background loops (deadline sweep, lease sweep, dispatch backstop) run unless a test drives them.
  if (opts.background ?? true) market.start();
  const address = app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const operator = new TaskMarketClient({ url, apiKey: OPERATOR_KEY });
  let n = 0;
  return {
    market,
    app,
    url,
    operator,
    async customer(fund = '100.0', name = `customer-${++n}`) {
      const created = await operator.createAccount({ name });
      if (fund !== '0') await operator.fundAccount(created.account_id, fund);
      return {
        client: new TaskMarketClient({ url, apiKey: created.api_key }),
        accountId: created.account_id,
        apiKey: created.api_key,
      };
    },
    async close() {
      await app.close();
      await market.close();
      if (tmpDataDir) rmSync(tmpDataDir, { recursive: true, force: true });
    },
  };
}

/** The spec's example payloads, one per challenge type. */
export const EXAMPLE_PAYLOADS = {
  inference: { model_id: 'gpt-3.5-turbo', prompt: 'Hello, world!', max_tokens: 100 },
  training: {
    model_architecture: 'resnet50',
    dataset_url: 'https://example.com/data.tar',
    epochs: 10,
    batch_size: 32,
  },
  rendering: { scene_file: 'https://example.com/scene.blend', resolution: '1920x1080', frames: 100 },
  synthetic: { seed: '1234abcd5678ef90', matrix_size: 1024, iterations: 100 },
  transcode: { input: Buffer.from('hello media').toString('base64') },
  gpuhash: { input: Buffer.from('hash me').toString('base64') },
} as const;

/**
 * Markets a test starts for itself, closed after it with the workers of `pool`, which connect to
 * the last market tracked. Call at the top level of a test file (it registers an afterEach).
 */
export function perTestMarkets() {
  const open: TestMarket[] = [];
  let current: TestMarket | undefined;
  const pool = new WorkerPool(() => ({
    url: (current as TestMarket).url,
    connected: () => (current as TestMarket).market.dispatcher.connected,
  }));
  const closeAll = async () => {
    await pool.closeAll();
    for (const tm of open.splice(0).reverse()) await tm.close();
  };
  afterEach(closeAll);
  return {
    pool,
    /** Closes the workers and the markets now (a test that restarts a node on the same database). */
    closeAll,
    /** Tracks a market the test started: closed after it, and `pool` makes workers for it now. */
    track(tm: TestMarket): TestMarket {
      open.push(tm);
      current = tm;
      return tm;
    },
  };
}

/** Settlement in Real mode at once: money moves from the next settlement on. */
export async function realSettlement(tm: TestMarket): Promise<void> {
  await tm.operator.request('POST', '/rpc', {
    method: 'settlement.set_mode',
    params: { mode: 'Armed', delay_ms: 0 },
  });
}

/** A provider's stored reputation score (0 without an entry). */
export async function providerScore(tm: TestMarket, address: string): Promise<number> {
  const [row] = await tm.market.db.query<{ score: number }>(
    'SELECT score FROM provider_reputation WHERE address = $1',
    [address],
  );
  return row?.score ?? 0;
}

/** A provider's CPC balance on its market account, in base units (0 without one). */
export async function providerBalance(tm: TestMarket, address: string): Promise<bigint> {
  const [row] = await tm.market.db.query<{ amount: string }>(
    `SELECT b.amount::text AS amount FROM balances b JOIN accounts a USING (account_id)
     WHERE a.address = $1 AND b.asset = 'CPC'`,
    [address],
  );
  return BigInt(row?.amount ?? '0');
}
