// The task API through real HTTP, on PGlite (or PostgreSQL with TEST_DATABASE_URL).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiError, TaskMarketClient } from '../../src/client/client.js';
import { CHALLENGE_TYPES } from '../../src/domain/schemas/payloads.js';
import { verifyLedger } from '../../src/market/ledger.js';
import { apiError, EXAMPLE_PAYLOADS, startTestMarket, type TestMarket } from '../helpers/market.js';

let tm: TestMarket;
beforeAll(async () => {
  tm = await startTestMarket();
});
afterAll(async () => {
  await tm?.close();
});

async function expectBooksBalance(): Promise<void> {
  const report = await verifyLedger(tm.market.db);
  expect(report.violations).toEqual([]);
}

describe('creating tasks', () => {
  it('creates a task of every type with the spec response shape, escrowing the reward', async () => {
    const { client } = await tm.customer('100.0');
    for (const type of CHALLENGE_TYPES) {
      const created = await client.createTask({
        challenge_type: type,
        payload: { ...EXAMPLE_PAYLOADS[type] },
        reward: '10.0',
      });
      expect(Object.keys(created).sort()).toEqual(['created_at', 'status', 'task_id']);
      expect(created.status).toBe('pending');
      expect(created.task_id).toMatch(/^[0-9a-f-]{36}$/);
      const task = await client.getTask(created.task_id);
      expect(task).toMatchObject({
        task_id: created.task_id,
        status: 'pending',
        challenge_type: type,
        reward: '10.0',
      });
      expect(task.result).toBeUndefined();
    }
    const me = await client.me();
    expect(me).toMatchObject({ balance: '40.0', escrow: '60.0', available: '40.0' });
    await expectBooksBalance();
  });

  it('accepts the spec example request verbatim, deadline included', async () => {
    const { client } = await tm.customer();
    const deadline = Math.floor(Date.now() / 1000) + 3600;
    const res = await fetch(`${tm.url}/tasks`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${(client as unknown as { options: { apiKey: string } }).options.apiKey}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({
        challenge_type: 'inference',
        payload: { model_id: 'gpt-3.5-turbo', prompt: 'Hello, world!', max_tokens: 100 },
        reward: '10.0',
        deadline,
      }),
    });
    expect(res.status).toBe(201);
  });

  it('refuses a reward beyond balance plus credit with 402 and stores nothing', async () => {
    const { client, accountId } = await tm.customer('5.0');
    const err = await apiError(
      client.createTask({
        challenge_type: 'synthetic',
        payload: { ...EXAMPLE_PAYLOADS.synthetic },
        reward: '5.000000000000000001',
      }),
    );
    expect(err.status).toBe(402);
    expect(err.code).toBe('insufficient_funds');
    expect((await client.listTasks()).total).toBe(0);
    // Work on credit: the operator extends 1 CPC of credit and the same task now fits.
    await tm.operator.setCreditLimit(accountId, '1.0');
    await client.createTask({
      challenge_type: 'synthetic',
      payload: { ...EXAMPLE_PAYLOADS.synthetic },
      reward: '5.5',
    });
    expect(await client.me()).toMatchObject({
      balance: '-0.5',
      escrow: '5.5',
      credit_limit: '1.0',
      available: '0.5',
    });
    // A credit limit below what is owed is refused.
    const lower = await apiError(tm.operator.setCreditLimit(accountId, '0.1'));
    expect(lower.code).toBe('conflict');
    await expectBooksBalance();
  });

  it('settles concurrent creates exactly: never more escrowed than the account had', async () => {
    const { client } = await tm.customer('10.0');
    const results = await Promise.allSettled(
      Array.from({ length: 25 }, () =>
        client.createTask({
          challenge_type: 'gpuhash',
          payload: { ...EXAMPLE_PAYLOADS.gpuhash },
          reward: '1.0',
        }),
      ),
    );
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    expect(ok).toBe(10);
    for (const r of results)
      if (r.status === 'rejected') expect((r.reason as ApiError).code).toBe('insufficient_funds');
    expect(await client.me()).toMatchObject({ balance: '0.0', escrow: '10.0' });
    await expectBooksBalance();
  });

  it('replays an Idempotency-Key: one task, the same answer; a different body is a 409', async () => {
    const { client } = await tm.customer('10.0');
    const body = {
      challenge_type: 'synthetic' as const,
      payload: { ...EXAMPLE_PAYLOADS.synthetic },
      reward: '2.0',
    };
    const [a, b] = await Promise.all([
      client.createTask(body, { idempotencyKey: 'order-42' }),
      client.createTask(body, { idempotencyKey: 'order-42' }),
    ]);
    const c = await client.createTask(body, { idempotencyKey: 'order-42' });
    expect(b.task_id).toBe(a.task_id);
    expect(c.task_id).toBe(a.task_id);
    expect((await client.listTasks()).total).toBe(1);
    expect(await client.me()).toMatchObject({ balance: '8.0' });
    const err = await apiError(client.createTask({ ...body, reward: '3.0' }, { idempotencyKey: 'order-42' }));
    expect(err.status).toBe(409);
    expect(err.code).toBe('idempotency_conflict');
    // Keys belong to one account: another customer's same key makes its own task.
    const other = await tm.customer('10.0');
    const d = await other.client.createTask(body, { idempotencyKey: 'order-42' });
    expect(d.task_id).not.toBe(a.task_id);
  });
});

describe('creating tasks in bulk', () => {
  it('creates each task of a batch or refuses it on its own, holding exactly what was created', async () => {
    const { client } = await tm.customer('1.0');
    const task = (reward: string) => ({
      challenge_type: 'synthetic' as const,
      payload: { seed: 'ab', matrix_size: 2, iterations: 1 },
      reward,
    });
    const answer = await client.createTasks([task('0.6'), task('0'), task('0.6'), task('0.3')]);
    expect(answer).toMatchObject({ created: 2, refused: 2 });
    expect(answer.results[0]).toMatchObject({ status: 'pending' });
    expect(answer.results[1]).toMatchObject({ error: { code: 'validation_error' } });
    // 0.6 of 1.0 is held: the second 0.6 does not fit, the 0.3 after it does.
    expect(answer.results[2]).toMatchObject({ error: { code: 'insufficient_funds' } });
    expect(answer.results[3]).toMatchObject({ status: 'pending' });
    expect(await client.me()).toMatchObject({ balance: '0.1', escrow: '0.9' });
    const { total } = await client.listTasks({});
    expect(total).toBe(2);
    expect((await verifyLedger(tm.market.db)).violations).toEqual([]);
  });

  it('refuses a malformed batch whole: empty, past 1,000 tasks, or a task that is not a task', async () => {
    const { client } = await tm.customer('1.0');
    expect(await apiError(client.createTasks([]))).toMatchObject({ status: 400, code: 'validation_error' });
    const malformed = { challenge_type: 'synthetic' as const, payload: { seed: 'ab' }, reward: 'lots' };
    expect(await apiError(client.createTasks([malformed]))).toMatchObject({ status: 400 });
    const many = Array.from({ length: 1001 }, () => ({
      challenge_type: 'synthetic' as const,
      payload: { seed: 'ab', matrix_size: 2, iterations: 1 },
      reward: '0.0001',
    }));
    expect(await apiError(client.createTasks(many))).toMatchObject({ status: 400 });
    expect(await client.me()).toMatchObject({ escrow: '0.0' });
  });
});

describe('reading and listing', () => {
  let client: TaskMarketClient;
  const ids: string[] = [];
  beforeAll(async () => {
    ({ client } = await tm.customer('100.0'));
    for (const type of ['inference', 'synthetic', 'inference', 'rendering', 'inference'] as const)
      ids.push(
        (
          await client.createTask({
            challenge_type: type,
            payload: { ...EXAMPLE_PAYLOADS[type] },
            reward: '1.5',
          })
        ).task_id,
      );
  });

  it('lists newest first with total, limit and offset, filtered by type and status', async () => {
    const page = await client.listTasks({ limit: 2, offset: 1 });
    expect(page).toMatchObject({ total: 5, limit: 2, offset: 1 });
    expect(page.tasks.map((t) => t.task_id)).toEqual([ids[3], ids[2]]);
    expect(page.tasks[0]).toEqual({
      task_id: ids[3],
      challenge_type: 'rendering',
      status: 'pending',
      reward: '1.5',
    });
    const inference = await client.listTasks({ challenge_type: 'inference' });
    expect(inference.total).toBe(3);
    await client.cancelTask(ids[0] as string);
    expect((await client.listTasks({ status: 'cancelled' })).tasks.map((t) => t.task_id)).toEqual([ids[0]]);
    expect((await client.listTasks({ status: 'pending', challenge_type: 'inference' })).total).toBe(2);
    expect((await client.listTasks()).limit).toBe(20);
  });

  it('hides other customers tasks (404) but shows everything to the operator', async () => {
    const stranger = await tm.customer('1.0');
    const err = await apiError(stranger.client.getTask(ids[1] as string));
    expect(err.status).toBe(404);
    expect((await apiError(stranger.client.cancelTask(ids[1] as string))).status).toBe(404);
    expect((await stranger.client.listTasks()).total).toBe(0);
    expect((await tm.operator.getTask(ids[1] as string)).task_id).toBe(ids[1]);
    expect((await tm.operator.listTasks()).total).toBeGreaterThanOrEqual(5);
  });

  it('answers 400 for a non-UUID id and 404 for an unknown one', async () => {
    expect((await apiError(client.getTask('not-a-uuid'))).code).toBe('validation_error');
    expect((await apiError(client.getTask('00000000-0000-4000-8000-000000000000'))).code).toBe('not_found');
    expect((await apiError(client.listTasks({ limit: 0 }))).status).toBe(400);
    expect((await apiError(client.listTasks({ status: 'done' as never }))).status).toBe(400);
  });
});

describe('cancelling', () => {
  it('refunds the escrow; a completed task is 409 already_done and keeps its money in escrow', async () => {
    const { client } = await tm.customer('10.0');
    const t = await client.createTask({
      challenge_type: 'synthetic',
      payload: { ...EXAMPLE_PAYLOADS.synthetic },
      reward: '4.0',
    });
    expect(await client.cancelTask(t.task_id)).toEqual({
      task_id: t.task_id,
      status: 'cancelled',
      refunded: '4.0',
      refund: { ct: '4.0', it: '0.0' },
    });
    expect(await client.me()).toMatchObject({ balance: '10.0', escrow: '0.0' });
    const again = await apiError(client.cancelTask(t.task_id));
    expect(again).toMatchObject({ status: 409, code: 'already_done', message: 'task already cancelled' });

    const done = await client.createTask({
      challenge_type: 'synthetic',
      payload: { ...EXAMPLE_PAYLOADS.synthetic },
      reward: '3.0',
    });
    await tm.market.db.query(
      `UPDATE tasks SET status = 'completed', result_hash = 'ab', worker_address = 'cpc1worker', completed_at_ms = 1000 WHERE task_id = $1`,
      [done.task_id],
    );
    const err = await apiError(client.cancelTask(done.task_id));
    expect(err).toMatchObject({ status: 409, code: 'already_done', message: 'task already completed' });
    const view = await client.getTask(done.task_id);
    expect(view.result).toEqual({ result_hash: 'ab', worker_address: 'cpc1worker', completed_at: 1 });
    expect(await client.me()).toMatchObject({ balance: '7.0', escrow: '3.0' });
    expect((await apiError(client.cancelTask('00000000-0000-4000-8000-000000000000'))).code).toBe(
      'not_found',
    );
    await expectBooksBalance();
  });
});

describe('bad input', () => {
  let key: string;
  beforeAll(async () => {
    ({ apiKey: key } = await tm.customer('50.0'));
  });

  async function post(
    body: string,
    headers: Record<string, string> = {},
  ): Promise<{
    status: number;
    body: { error?: { code: string; message: string; details?: { problems?: { path: string }[] } } };
  }> {
    const res = await fetch(`${tm.url}/tasks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
      body,
    });
    return { status: res.status, body: (await res.json()) as never };
  }

  const synthetic = {
    challenge_type: 'synthetic',
    payload: { seed: 'ab', matrix_size: 8, iterations: 1 },
    reward: '1.0',
  };
  const cases: [string, unknown, string][] = [
    ['unknown challenge type', { ...synthetic, challenge_type: 'mining' }, '/challenge_type'],
    ['missing reward', { challenge_type: 'synthetic', payload: synthetic.payload }, '/reward'],
    ['numeric reward', { ...synthetic, reward: 10 }, '/reward'],
    ['zero reward', { ...synthetic, reward: '0.0' }, '/reward'],
    ['negative reward', { ...synthetic, reward: '-1' }, '/reward'],
    ['exponent reward', { ...synthetic, reward: '1e3' }, '/reward'],
    ['19 decimals', { ...synthetic, reward: '0.0000000000000000001' }, '/reward'],
    ['huge reward', { ...synthetic, reward: '9'.repeat(70) }, '/reward'],
    ['deadline in the past', { ...synthetic, deadline: 1700000000 }, '/deadline'],
    ['fractional deadline', { ...synthetic, deadline: 1.5 }, '/deadline'],
    ['unknown top-level field', { ...synthetic, priority_boost: true }, '/priority_boost'],
    ['unknown payload field', { ...synthetic, payload: { ...synthetic.payload, evil: 1 } }, '/payload/evil'],
    [
      'temperature above 2',
      {
        challenge_type: 'inference',
        payload: { model_id: 'm', prompt: 'p', max_tokens: 5, temperature: 2.5 },
        reward: '1',
      },
      '/payload/temperature',
    ],
    [
      'max_tokens as string',
      { challenge_type: 'inference', payload: { model_id: 'm', prompt: 'p', max_tokens: '5' }, reward: '1' },
      '/payload/max_tokens',
    ],
    [
      'file URL',
      {
        challenge_type: 'training',
        payload: { model_architecture: 'r', dataset_url: 'file:///etc/passwd', epochs: 1, batch_size: 1 },
        reward: '1',
      },
      '/payload/dataset_url',
    ],
    [
      'bad resolution',
      {
        challenge_type: 'rendering',
        payload: { scene_file: 'https://x/s', resolution: '1920*1080', frames: 1 },
        reward: '1',
      },
      '/payload/resolution',
    ],
    [
      'resolution too large',
      {
        challenge_type: 'rendering',
        payload: { scene_file: 'https://x/s', resolution: '20000x10', frames: 1 },
        reward: '1',
      },
      '/payload/resolution',
    ],
    [
      'zero frames',
      {
        challenge_type: 'rendering',
        payload: { scene_file: 'https://x/s', resolution: '10x10', frames: 0 },
        reward: '1',
      },
      '/payload/frames',
    ],
    [
      'non-hex seed',
      { ...synthetic, payload: { ...synthetic.payload, seed: "'; DROP TABLE tasks; --" } },
      '/payload/seed',
    ],
    [
      'matrix too large',
      { ...synthetic, payload: { ...synthetic.payload, matrix_size: 1e9 } },
      '/payload/matrix_size',
    ],
    [
      'both input forms',
      { challenge_type: 'gpuhash', payload: { input: 'aGk=', input_blob: 'a'.repeat(64) }, reward: '1' },
      '/payload',
    ],
    ['neither input form', { challenge_type: 'transcode', payload: {}, reward: '1' }, '/payload'],
    [
      'bad base64',
      { challenge_type: 'transcode', payload: { input: 'not base64!' }, reward: '1' },
      '/payload/input',
    ],
    ['array body', [synthetic], ''],
    ['null body', null, ''],
  ];

  it.each(cases)('%s → 400 naming %s, nothing stored', async (_name, body, path) => {
    const before = await tm.market.db.query<{ n: number }>('SELECT count(*)::int8 AS n FROM ledger_entries');
    const res = await post(JSON.stringify(body));
    expect(res.status).toBe(400);
    expect(res.body.error?.code).toBe('validation_error');
    expect(res.body.error?.details?.problems?.[0]?.path).toBe(path);
    const after = await tm.market.db.query<{ n: number }>('SELECT count(*)::int8 AS n FROM ledger_entries');
    expect(after).toEqual(before);
  });

  it('malformed JSON is 400 invalid_json, an oversized body 413, a non-JSON type 415', async () => {
    expect((await post('{"challenge_type":')).body.error?.code).toBe('invalid_json');
    const big = await post(JSON.stringify({ ...synthetic, payload: { input: 'A'.repeat(2_000_000) } }));
    expect(big.status).toBe(413);
    expect(big.body.error?.code).toBe('payload_too_large');
    const text = await post('hello', { 'content-type': 'text/plain' });
    expect(text.status).toBe(415);
    expect((await post('{"__proto__":{"x":1}}')).status).toBe(400);
  });

  it('needs a valid key (401) and a customer key to create (403)', async () => {
    const none = await fetch(`${tm.url}/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(synthetic),
    });
    expect(none.status).toBe(401);
    expect(
      (await post(JSON.stringify(synthetic), { authorization: 'Bearer tm_nope_nope_nope' })).status,
    ).toBe(401);
    expect((await apiError(tm.operator.createTask(synthetic as never))).status).toBe(403);
    const asCustomer = await fetch(`${tm.url}/accounts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x' }),
    });
    expect(asCustomer.status).toBe(403);
  });

  it('leaves the books balanced', async () => {
    await expectBooksBalance();
  });
});
