// The deadline sweep and the webhook rounds read only when something can be due (issues #11 and
// #15), and still miss nothing: a deadline of a task created here or by another node, or before a
// restart, fails the task; a webhook of a task another node created is told when its end is
// committed here; and result commits of tasks without webhooks cost no webhook reads.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';
import { TaskMarketClient } from '../../src/client/client.js';
import type { JobMsg } from '../../src/domain/schemas/worker.js';
import type { Db } from '../../src/store/db.js';
import { openDatabase } from '../../src/store/open.js';
import { dropSchema, freshSchema, testDb, TEST_DATABASE_URL } from '../helpers/db.js';
import { EXAMPLE_PAYLOADS, startTestMarket, type TestMarket } from '../helpers/market.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';
import { WorkerPool } from '../helpers/ws-worker.js';

const SECRET = 'whsec_0123456789abcdef';
const synthetic = {
  challenge_type: 'synthetic' as const,
  payload: { ...EXAMPLE_PAYLOADS.synthetic },
  reward: '1.0',
};
const open: TestMarket[] = [];
let pool: WorkerPool | undefined;
afterEach(async () => {
  await pool?.closeAll();
  pool = undefined;
  for (const m of open.splice(0)) await m.close();
});

/** A database two nodes share; each node's close leaves it open, `close` closes it. */
async function sharedDb(): Promise<{ db: Db; close: () => Promise<void> }> {
  const db = await testDb();
  return { db: { ...db, close: async () => {} }, close: () => db.close() };
}

/** A fresh database that records the text of every statement run outside a transaction. */
async function countedDb(): Promise<{ statements: string[]; counted: Db }> {
  const statements: string[] = [];
  const db = await testDb();
  const counted: Db = {
    ...db,
    query: (sql, params) => {
      statements.push(sql);
      return db.query(sql, params);
    },
  };
  return { statements, counted };
}

/** Seconds from now, as a task's deadline. */
const inSeconds = (s: number) => Math.floor(Date.now() / 1000) + s;

it('result commits of tasks that name no webhook make no webhook lookups or sweeps', async () => {
  const { statements, counted } = await countedDb();
  const tm = await startTestMarket({ db: counted, config: { worker_messages_per_second: 1000 } });
  open.push(tm);
  pool = new WorkerPool(() => ({ url: tm.url, connected: () => tm.market.dispatcher.connected }));
  // The first round after the start sweeps every waiting webhook (none) and reads what is due.
  await vi.waitFor(() => expect(statements.some((s) => s.includes('FROM webhook_deliveries'))).toBe(true), {
    timeout: 10_000,
  });
  statements.length = 0;
  const { client } = await tm.customer('10.0');
  const w = pool.make();
  await w.join();
  for (let i = 0; i < 5; i++) {
    const task = await client.createTask({
      challenge_type: 'gpuhash',
      payload: { input: Buffer.from(`no webhook ${i}`).toString('base64') },
      reward: '1.0',
    });
    const job = await w.next<JobMsg>('job', (m) => m.task_id === task.task_id);
    w.send(w.result(job));
    await vi.waitFor(async () => expect((await client.getTask(task.task_id)).status).toBe('completed'));
  }
  const webhookReads = statements.filter((s) => /task_webhooks|webhook_deliveries/.test(s));
  expect(webhookReads.filter((s) => s.includes('w.task_id = ANY') || s.includes('WITH due AS'))).toEqual([]);
}, 60_000);

it('fails a task at its deadline although the sweep last found no deadline open', async () => {
  // On PostgreSQL the fallback read is out of reach: only the task's creation tells the sweep.
  const tm = await startTestMarket({
    config: { deadline_sweep_interval_ms: 50, sweep_fallback_interval_ms: 3_600_000 },
  });
  open.push(tm);
  await new Promise((r) => setTimeout(r, 300));
  const { client } = await tm.customer('10.0');
  const task = await client.createTask({ ...synthetic, deadline: inSeconds(2) });
  await vi.waitFor(
    async () =>
      expect(await client.getTask(task.task_id)).toMatchObject({
        status: 'failed',
        failure_reason: 'deadline_exceeded',
      }),
    { timeout: 15_000, interval: 100 },
  );
  expect(await client.me()).toMatchObject({ balance: '10.0', escrow: '0.0' });
}, 60_000);

it.runIf(TEST_DATABASE_URL)(
  'fails at its deadline a task another node created and never swept',
  async () => {
    const shared = await sharedDb();
    try {
      const a = await startTestMarket({
        db: shared.db,
        config: { deadline_sweep_interval_ms: 50, sweep_fallback_interval_ms: 200 },
      });
      open.push(a);
      // B creates the task and runs no sweep (as a node that stopped after creating it).
      const b = await startTestMarket({ db: shared.db, background: false });
      open.push(b);
      await new Promise((r) => setTimeout(r, 300));
      const { client } = await b.customer('10.0');
      const task = await client.createTask({ ...synthetic, deadline: inSeconds(2) });
      await vi.waitFor(async () => expect((await client.getTask(task.task_id)).status).toBe('failed'), {
        timeout: 15_000,
        interval: 100,
      });
    } finally {
      for (const m of open.splice(0)) await m.close();
      await shared.close();
    }
  },
  60_000,
);

it.runIf(TEST_DATABASE_URL)(
  "tells the webhook of a task another node created when this node commits the task's end",
  async () => {
    const shared = await sharedDb();
    const receiver = new WebhookReceiver();
    const url = await receiver.listen();
    try {
      const config = { webhook_allow_private: true, sweep_fallback_interval_ms: 200 };
      const a = await startTestMarket({ db: shared.db, config });
      open.push(a);
      const b = await startTestMarket({ db: shared.db, config, background: false });
      open.push(b);
      // A has read that no webhook waits before B creates one.
      await new Promise((r) => setTimeout(r, 1_500));
      const onB = await b.customer('10.0');
      const task = await onB.client.createTask({ ...synthetic, webhook_url: url, webhook_secret: SECRET });
      // The end is committed (and announced) on A; B's own sweep would look only a minute later.
      await a.market.tasks.cancel({ kind: 'customer', accountId: onB.accountId }, task.task_id);
      await receiver.count(1);
      expect(JSON.parse(receiver.received[0]?.body as string)).toMatchObject({
        event: 'task.cancelled',
        task: { task_id: task.task_id },
      });
    } finally {
      for (const m of open.splice(0)) await m.close();
      await shared.close();
      await receiver.close();
    }
  },
  60_000,
);

it('fails after a restart a task whose deadline passes while no node runs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tm-idle-sweeps-'));
  const schema = freshSchema();
  const durableDb = () =>
    TEST_DATABASE_URL
      ? openDatabase({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 4 })
      : openDatabase({ dataDir: dir });
  try {
    const config = { data_dir: dir, deadline_sweep_interval_ms: 50, sweep_fallback_interval_ms: 3_600_000 };
    const first = await startTestMarket({ config, db: await durableDb(), background: false });
    const { client, apiKey } = await first.customer('10.0');
    const task = await client.createTask({ ...synthetic, deadline: inSeconds(2) });
    await first.close();
    const second = await startTestMarket({ config, db: await durableDb() });
    open.push(second);
    const again = new TaskMarketClient({ url: second.url, apiKey });
    await vi.waitFor(async () => expect((await again.getTask(task.task_id)).status).toBe('failed'), {
      timeout: 15_000,
      interval: 100,
    });
  } finally {
    for (const m of open.splice(0)) await m.close();
    rmSync(dir, { recursive: true, force: true });
    await dropSchema(schema);
  }
}, 60_000);

it('an idle node reads no deadlines and no webhooks while none is open', async () => {
  const { statements, counted } = await countedDb();
  const tm = await startTestMarket({
    db: counted,
    config: { deadline_sweep_interval_ms: 50, sweep_fallback_interval_ms: 3_600_000 },
  });
  open.push(tm);
  const sweeps = () => statements.filter((s) => /deadline_ms|task_webhooks|webhook_deliveries/.test(s));
  // The first rounds after the start read once; then nothing is due.
  await vi.waitFor(() => expect(sweeps().some((s) => s.includes('webhook_deliveries'))).toBe(true), {
    timeout: 10_000,
  });
  await new Promise((r) => setTimeout(r, 500));
  statements.length = 0;
  await new Promise((r) => setTimeout(r, 2_500));
  expect(sweeps()).toEqual([]);
}, 60_000);
