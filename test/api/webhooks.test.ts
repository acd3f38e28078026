// Webhooks: a task's URL is told when the task ends, signed with the task's secret, tried again
// with backoff until it answers 2xx, and still told after the node restarts in between.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { JobMsg } from '../../src/domain/schemas/worker.js';
import {
  DELIVERY_HEADER,
  EVENT_HEADER,
  SIGNATURE_HEADER,
  verifyWebhookSignature,
} from '../../src/domain/webhook.js';
import { openDatabase } from '../../src/store/open.js';
import { WEBHOOK_RECHECK_MS } from '../../src/domain/webhook.js';
import { WebhookService } from '../../src/market/webhooks.js';
import { deliveriesOfTask, sweepDueWebhooks } from '../../src/store/webhooks.js';
import { dropSchema, freshSchema, TEST_DATABASE_URL } from '../helpers/db.js';
import { apiError, startTestMarket, type TestMarket } from '../helpers/market.js';
import { freePort, WebhookReceiver } from '../helpers/webhook-receiver.js';
import { WorkerPool } from '../helpers/ws-worker.js';

const SECRET = 'whsec_0123456789abcdef';
const input = Buffer.from('tell me when done').toString('base64');

describe('on a running node', () => {
  let tm: TestMarket;
  const pool = new WorkerPool(() => ({ url: tm.url, connected: () => tm.market.dispatcher.connected }));
  beforeAll(async () => {
    // The receivers here listen on 127.0.0.1: a node refuses that unless told to allow it.
    tm = await startTestMarket({ config: { worker_messages_per_second: 1000, webhook_allow_private: true } });
  });
  afterAll(async () => {
    await tm?.close();
  });
  afterEach(() => pool.closeAll());

  it('delivers the completed task, signed, again after a refusal, with the same delivery id', async () => {
    const receiver = new WebhookReceiver([500]);
    const url = await receiver.listen();
    try {
      const { client } = await tm.customer('10.0');
      const task = await client.createTask({
        challenge_type: 'gpuhash',
        payload: { input },
        reward: '1.0',
        webhook_url: url,
        webhook_secret: SECRET,
      });
      const w = pool.make();
      await w.join();
      const job = await w.next<JobMsg>('job', (m) => m.task_id === task.task_id);
      w.send(w.result(job));
      await receiver.count(2);

      const [first, second] = receiver.received;
      expect(first?.status).toBe(500);
      expect(second?.status).toBe(200);
      expect(second?.headers[DELIVERY_HEADER]).toBe(first?.headers[DELIVERY_HEADER]);
      expect(second?.headers[EVENT_HEADER]).toBe('task.completed');
      const signature = second?.headers[SIGNATURE_HEADER] as string;
      expect(verifyWebhookSignature(SECRET, signature, second?.body as string)).toBe(true);
      expect(verifyWebhookSignature('another-secret-value', signature, second?.body as string)).toBe(false);
      const body = JSON.parse(second?.body as string) as Record<string, unknown>;
      expect(body).toMatchObject({
        event: 'task.completed',
        delivery_id: first?.headers[DELIVERY_HEADER],
        task: { task_id: task.task_id, status: 'completed', result: { worker_address: w.key.address } },
        jobs: [{ job_id: job.job_id, status: 'completed' }],
      });
      await until(
        async () => (await deliveriesOfTask(tm.market.db, task.task_id))[0]?.status === 'delivered',
      );
      const [row] = await deliveriesOfTask(tm.market.db, task.task_id);
      expect(row).toMatchObject({ attempts: 2, status: 'delivered', event: 'task.completed' });
    } finally {
      await receiver.close();
    }
  }, 60_000);

  it('refuses every webhook problem of a request at once, and stores nothing', async () => {
    const { client, accountId } = await tm.customer('10.0');
    const err = await apiError(
      client.createTask({
        challenge_type: 'gpuhash',
        payload: { input },
        reward: '0',
        webhook_url: 'ftp://example.com/hook',
      }),
    );
    expect(err.code).toBe('validation_error');
    const paths = (err.details?.problems as { path: string }[]).map((p) => p.path).sort();
    expect(paths).toEqual(['/reward', '/webhook_secret', '/webhook_url']);
    expect((await tm.operator.getAccount(accountId)).balance).toBe('10.0');
    const short = await apiError(
      client.createTask({
        challenge_type: 'gpuhash',
        payload: { input },
        reward: '1.0',
        webhook_url: 'https://example.com/hook',
        webhook_secret: 'short',
      }),
    );
    expect(short.code).toBe('validation_error');
  });
});

describe('the sweep', () => {
  let tm: TestMarket;
  beforeAll(async () => {
    tm = await startTestMarket({ config: { webhook_allow_private: true }, background: false });
  });
  afterAll(async () => {
    await tm?.close();
  });

  it('reads only the webhooks due for a look, and after a start finds an end no event announced', async () => {
    const { client } = await tm.customer('100.0');
    const create = () =>
      client.createTask({
        challenge_type: 'gpuhash',
        payload: { input },
        reward: '1.0',
        webhook_url: 'http://127.0.0.1:9/hook',
        webhook_secret: SECRET,
      });
    // More than one batch (32) of running tasks, so the start's sweep reads several batches.
    const [a, b] = [await create(), await create()];
    for (let i = 0; i < 40; i++) await create();
    const now = tm.market.clock.nowMs();
    // Running tasks are first due a minute after creation: a sweep now reads none of them.
    expect(await sweepDueWebhooks(tm.market.db, now, now + WEBHOOK_RECHECK_MS, 10)).toEqual({
      looked: 0,
      ended: [],
    });
    // The node stops telling (as if it stopped) and a task ends meanwhile: no event reaches it.
    await tm.market.webhooks.stop();
    await client.cancelTask(a.task_id);
    expect(await deliveriesOfTask(tm.market.db, a.task_id)).toEqual([]);
    // A service starting afresh looks at every waiting webhook once and queues the ended one.
    const fresh = new WebhookService(
      tm.market.db,
      tm.market.clock,
      tm.market.events,
      tm.market.tasks,
      pino({ level: 'silent' }),
      { allowPrivate: true },
    );
    expect(await fresh.queueEnded()).toBe(1);
    expect(await deliveriesOfTask(tm.market.db, a.task_id)).toMatchObject([{ event: 'task.cancelled' }]);
    // All were moved a minute ahead: the next sweep reads none; b and the 40 still run.
    expect(await sweepDueWebhooks(tm.market.db, now + 1000, now + WEBHOOK_RECHECK_MS, 10)).toMatchObject({
      looked: 0,
    });
    const later = await sweepDueWebhooks(tm.market.db, now + 2 * WEBHOOK_RECHECK_MS, now, 100);
    expect(later).toEqual({ looked: 41, ended: [] });
    expect((await client.getTask(b.task_id)).status).toBe('pending');
    await fresh.stop();
  }, 60_000);
});

describe('the address guard', () => {
  let tm: TestMarket;
  beforeAll(async () => {
    tm = await startTestMarket({ config: { worker_messages_per_second: 1000 } });
  });
  afterAll(async () => {
    await tm?.close();
  });
  afterEach(() => pool.closeAll());
  const pool = new WorkerPool(() => ({ url: tm.url, connected: () => tm.market.dispatcher.connected }));

  it('refuses webhook URLs on loopback, private and link-local addresses at creation, with a clear 400', async () => {
    const { client, accountId } = await tm.customer('10.0');
    for (const url of [
      'http://127.0.0.1:8080/hook',
      'http://localhost/hook',
      'http://[::1]/hook',
      'http://[::ffff:127.0.0.1]/hook',
      'http://10.1.2.3/hook',
      'http://192.168.0.10/hook',
      'https://169.254.169.254/latest/meta-data',
      'http://0.0.0.0/hook',
    ]) {
      const err = await apiError(
        client.createTask({
          challenge_type: 'gpuhash',
          payload: { input },
          reward: '1.0',
          webhook_url: url,
          webhook_secret: SECRET,
        }),
      );
      expect(err, url).toMatchObject({ status: 400, code: 'validation_error' });
      const [problem] = err.details?.problems as { path: string; message: string }[];
      expect(problem?.path).toBe('/webhook_url');
      expect(problem?.message).toMatch(/loopback, private or link-local.*webhook_allow_private/);
    }
    expect((await tm.operator.getAccount(accountId)).balance).toBe('10.0');
  });

  it('refuses at delivery a name that resolves to a private address by then (DNS rebinding)', async () => {
    const receiver = new WebhookReceiver();
    const url = await receiver.listen();
    try {
      // The name passed the check at creation (as a public address would have), and resolves to
      // 127.0.0.1 when the delivery is made.
      const options = (tm.market.tasks as unknown as { options: { webhookTarget?: unknown } }).options;
      const check = options.webhookTarget;
      options.webhookTarget = async () => undefined;
      const { client } = await tm.customer('10.0');
      const task = await client.createTask({
        challenge_type: 'gpuhash',
        payload: { input },
        reward: '1.0',
        webhook_url: url.replace('127.0.0.1', 'localhost'),
        webhook_secret: SECRET,
      });
      options.webhookTarget = check;
      const failed = new Promise<{ error: string }>((resolve) =>
        tm.market.events.once('webhook.failed', resolve),
      );
      await client.cancelTask(task.task_id);
      expect((await failed).error).toMatch(/localhost resolves to .*loopback, private or link-local/);
      expect(receiver.received).toEqual([]);
    } finally {
      await receiver.close();
    }
  });
});

describe('across a restart', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tm-webhooks-'));
  const schema = freshSchema();
  const durableDb = () =>
    TEST_DATABASE_URL
      ? openDatabase({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 4 })
      : openDatabase({ dataDir: dir });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await dropSchema(schema);
  });

  it('a delivery that could not be made before the node stopped is made after it starts again', async () => {
    const port = await freePort();
    const config = { data_dir: dir, webhook_allow_private: true };
    const first = await startTestMarket({ config, db: await durableDb(), background: false });
    let taskId: string;
    try {
      const { client } = await first.customer('10.0');
      const task = await client.createTask({
        challenge_type: 'gpuhash',
        payload: { input },
        reward: '1.0',
        webhook_url: `http://127.0.0.1:${port}/hook`,
        webhook_secret: SECRET,
      });
      taskId = task.task_id;
      const failed = new Promise((resolve) => first.market.events.once('webhook.failed', resolve));
      await client.cancelTask(task.task_id);
      // Nothing listens yet: the first attempt fails and the delivery waits in the table.
      await failed;
      expect((await deliveriesOfTask(first.market.db, taskId))[0]).toMatchObject({
        status: 'pending',
        attempts: 1,
        event: 'task.cancelled',
      });
    } finally {
      await first.close();
    }

    const receiver = new WebhookReceiver();
    await receiver.listen(port);
    const second = await startTestMarket({ config, db: await durableDb() });
    try {
      await receiver.count(1);
      const body = JSON.parse(receiver.received[0]?.body as string) as {
        event: string;
        task: { task_id: string };
      };
      expect(body).toMatchObject({ event: 'task.cancelled', task: { task_id: taskId, status: 'cancelled' } });
      await until(async () => (await deliveriesOfTask(second.market.db, taskId))[0]?.status === 'delivered');
    } finally {
      await second.close();
      await receiver.close();
    }
  }, 120_000);
});

async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 50));
}
