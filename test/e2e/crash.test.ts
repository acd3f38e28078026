// A market node SIGKILLed while results are being settled in Real mode: after a restart on the
// same data, every paid task completes, each job has one receipt, every task is charged exactly
// once, and the ledger balances to the base unit.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, expect, it } from 'vitest';
import { TaskMarketClient } from '../../src/client/client.js';
import { dropSchema, freshSchema, TEST_DATABASE_URL } from '../helpers/db.js';
import { OPERATOR_KEY } from '../helpers/market.js';
import { BIN, cli, startNode, type Node } from '../helpers/processes.js';
import { until } from '../helpers/until.js';

const dir = mkdtempSync(join(tmpdir(), 'taskmarket-crash-'));
const schema = freshSchema();
const workers: ChildProcess[] = [];
let node: Node | undefined;

afterAll(async () => {
  for (const w of workers) w.kill('SIGKILL');
  await node?.stop();
  rmSync(dir, { recursive: true, force: true });
  await dropSchema(schema);
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const TASKS = 40;

it('loses no paid task and charges none twice across a SIGKILL mid-settlement', async () => {
  const port = await freePort();
  const start = () =>
    startNode(
      [
        '--data-dir',
        join(dir, 'node'),
        '--port',
        String(port),
        ...(TEST_DATABASE_URL ? ['--database-url', TEST_DATABASE_URL] : []),
      ],
      {
        TASKMARKET_OPERATOR_KEY: OPERATOR_KEY,
        TASKMARKET_DATABASE_SCHEMA: TEST_DATABASE_URL ? schema : '',
        TASKMARKET_LEASE_MS: '3000',
        TASKMARKET_LOG_LEVEL: 'warn',
      },
    );
  node = await start();
  const operator = new TaskMarketClient({ url: node.url, apiKey: OPERATOR_KEY });
  await operator.request('POST', '/rpc', {
    method: 'settlement.set_mode',
    params: { mode: 'Armed', delay_ms: 0 },
  });
  // This test is about settlement across a crash, not admission or verification (their own tests
  // cover them): with admission on, tasks created
  // in the second after the workers offer can meet a capacity window not yet sampled (503).
  await operator.request('PUT', '/params', { admission_enabled: false, verification_enabled: false });

  for (let i = 0; i < 2; i++) {
    const key = join(dir, `worker${i}.json`);
    expect((await cli(['worker', 'keygen', '--out', key])).code).toBe(0);
    const config = join(dir, `worker${i}.toml`);
    writeFileSync(
      config,
      [
        'slots = 4',
        'log_level = "warn"',
        '[offer]',
        'units = 100000',
        'price_per_unit = "0.001"',
        '[reconnect]',
        'initial_delay_ms = 100',
        'max_delay_ms = 300',
      ].join('\n'),
    );
    const proc = spawn(
      process.execPath,
      [BIN, '--url', node.url, 'worker', '--key', key, '--config', config],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    proc.stderr?.resume();
    workers.push(proc);
  }
  await until('two offers', async () =>
    (await operator.request<{ total: number }>('GET', '/offers')).total === 2 ? true : undefined,
  );
  const account = await operator.createAccount({ name: 'crash' });
  await operator.fundAccount(account.account_id, '10.0');
  const client = new TaskMarketClient({ url: node.url, apiKey: account.api_key });
  const ids = await Promise.all(
    Array.from(
      { length: TASKS },
      async (_, i) =>
        (
          await client.createTask({
            challenge_type: 'synthetic',
            // One compute unit each, a few hundred milliseconds of work.
            payload: { seed: (i + 16).toString(16), matrix_size: 128, iterations: 60 },
            reward: '0.01',
          })
        ).task_id,
    ),
  );
  const completed = () => client.request<{ total: number }>('GET', '/tasks?status=completed&limit=1');
  const atKill = await until('the first completions', async () => {
    const { total } = await completed();
    return total >= 1 ? total : undefined;
  });
  expect(await node.stop('SIGKILL')).toBeNull();
  // The node died with work in flight, not after it was all done.
  expect(atKill).toBeLessThan(TASKS);

  node = await start();
  await until('every task to complete', async () => ((await completed()).total === TASKS ? true : undefined));

  // 40 tasks × 1 unit × 0.001 CPC: charged once each, the rest of every reward refunded.
  expect(await client.me()).toMatchObject({ balance: '9.96', escrow: '0.0' });
  const status = await operator.request<{ result: { mode: string; balances: Record<string, string> } }>(
    'POST',
    '/rpc',
    { jsonrpc: '2.0', id: 1, method: 'settlement_status' },
  );
  expect(status.result.mode).toBe('Real');
  expect(status.result.balances).toMatchObject({ burn: '0.024', validators: '0.004', treasury: '0.002' });
  expect(await operator.request('GET', '/ledger/verify')).toMatchObject({ ok: true });
  for (const id of ids) expect((await client.getTask(id)).status).toBe('completed');
}, 240_000);
