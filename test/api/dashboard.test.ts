// The dashboard's endpoints: the static page with its content security policy, and
// GET /dashboard/state, which shows anyone the lanes, prices and settlement mode, a key holder its
// offers, courier and own tasks, and the operator every task and each provider's reputation; and
// GET /dashboard/events, which tells an open page when to read the state again.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DashboardState } from '../../src/api/routes/dashboard-state.js';
import { ManualClock } from '../../src/domain/clock.js';
import type { JobMsg } from '../../src/domain/schemas/worker.js';
import { EXAMPLE_PAYLOADS, OPERATOR_KEY, startTestMarket, type TestMarket } from '../helpers/market.js';
import { CPU_CAPABILITY, WorkerPool } from '../helpers/ws-worker.js';

const clock = new ManualClock(1_800_000_000_000);
let tm: TestMarket;
const pool = new WorkerPool(() => ({ url: tm.url, connected: () => tm.market.dispatcher.connected }));
beforeAll(async () => {
  // The test drives the dispatcher (tick) and the clock, so the comfort guard's mode is its own.
  tm = await startTestMarket({ clock, background: false });
});
afterAll(async () => {
  await tm?.close();
});
afterEach(() => pool.closeAll());

const synthetic = {
  challenge_type: 'synthetic' as const,
  payload: EXAMPLE_PAYLOADS.synthetic,
  reward: '0.5',
};

async function state(key?: string, query = ''): Promise<{ status: number; body: DashboardState }> {
  const res = await fetch(`${tm.url}/dashboard/state${query}`, {
    headers: key ? { authorization: `Bearer ${key}` } : {},
  });
  return { status: res.status, body: (await res.json()) as DashboardState };
}

describe('the page', () => {
  it('serves the page, its script and stylesheet without a key, under a strict content security policy', async () => {
    const page = await fetch(`${tm.url}/dashboard`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.headers.get('content-security-policy')).toContain("connect-src 'self'");
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await page.text();
    expect(html).toContain('<script src="dashboard/dashboard.js"');
    for (const [path, type] of [
      ['/dashboard/dashboard.js', 'text/javascript; charset=utf-8'],
      ['/dashboard/dashboard.css', 'text/css; charset=utf-8'],
    ] as const) {
      const res = await fetch(`${tm.url}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(type);
      expect((await res.text()).length).toBeGreaterThan(100);
    }
  });

  it('documents the page and the state in the OpenAPI document, both open without a key', async () => {
    const doc = (await (await fetch(`${tm.url}/openapi.json`)).json()) as {
      paths: Record<string, { get?: { security?: unknown[]; parameters?: { name: string }[] } }>;
    };
    expect(doc.paths['/dashboard']?.get?.security).toEqual([]);
    expect(doc.paths['/dashboard/state']?.get?.security).toEqual([{}, { apiKey: [] }]);
    expect(doc.paths['/dashboard/state']?.get?.parameters?.map((p) => p.name)).toEqual(['limit']);
    expect(doc.paths['/dashboard/dashboard.js']).toBeUndefined();
    expect(doc.paths['/dashboard/events']?.get?.security).toEqual([]);
  });
});

describe('GET /dashboard/state', () => {
  it('shows anyone the lanes, admission, price board, settlement mode and provider capacity, and nothing private', async () => {
    const alice = await tm.customer('5.0', 'alice');
    const task = await alice.client.createTask(synthetic);
    const { status, body } = await state();
    expect(status).toBe(200);
    expect(body.viewer).toBe('public');
    expect(body.lanes.industrial).toEqual({ queued: 1, running: 0, deferred: false });
    expect(body.lanes.consumer).toEqual({ queued: 0, running: 0, deferred: false });
    expect(body.admission).toMatchObject({ mode: 'loose', enabled: false });
    expect(Object.keys(body.price_board)).toEqual(['consumer', 'industrial']);
    expect(body.price_board.industrial).toMatchObject({ p25: null, median: null, p75: null });
    expect(body.settlement).toEqual({ mode: 'DryRun' });
    expect(body.providers).toEqual({ connected: 0, capacity_claimed: 0, capacity_verified: 0 });
    for (const key of ['offers', 'tasks', 'courier'] as const) expect(body[key]).toBeUndefined();
    expect(JSON.stringify(body)).not.toContain(task.task_id);
    await alice.client.cancelTask(task.task_id);
  });

  it("shows a customer its own tasks, the offers and the courier, and the operator everyone's tasks and the providers", async () => {
    const alice = await tm.customer('5.0', 'alice');
    const bob = await tm.customer('5.0', 'bob');
    const mine = await alice.client.createTask(synthetic);
    const theirs = await bob.client.createTask(synthetic);
    const w = pool.make();
    await w.join({ slots: 1, units: 250, price: '0.002' });

    const asAlice = (await state(alice.apiKey)).body;
    expect(asAlice.viewer).toBe('customer');
    expect(asAlice.tasks?.items.map((t) => t.task_id)).toEqual([mine.task_id]);
    expect(asAlice.tasks?.total).toBe(1);
    expect(asAlice.offers?.items).toEqual([
      expect.objectContaining({ provider: w.key.address, units: 250, price_per_unit: '0.002' }),
    ]);
    expect(asAlice.courier?.chain).toBeDefined();
    expect(asAlice.settlement.balances).toBeDefined();
    expect(asAlice.providers.sessions).toBeUndefined();
    expect(asAlice.providers).toMatchObject({ connected: 1, capacity_claimed: 250, capacity_verified: 250 });

    const asOperator = (await state(OPERATOR_KEY)).body;
    expect(asOperator.viewer).toBe('operator');
    expect(asOperator.tasks?.items.map((t) => t.task_id)).toEqual(
      expect.arrayContaining([mine.task_id, theirs.task_id]),
    );
    expect(asOperator.providers.sessions).toEqual([
      expect.objectContaining({
        address: w.key.address,
        reputation: 0,
        slots: 1,
        price_per_unit: '0.002',
        capacity_claimed: 250,
        // Verification is off in test markets: the offer counts as advertised.
        capacity_verified: 250,
        capability: CPU_CAPABILITY,
      }),
    ]);

    // The worker takes one job: the lane shows it running, the other still queued.
    await tm.market.dispatcher.tick();
    const job = await w.next<JobMsg>('job');
    const running = (await state()).body.lanes.industrial;
    expect(running).toEqual({ queued: 1, running: 1, deferred: false });
    w.send(w.result(job));
    await w.next('result_accepted');
    const done = (await state(OPERATOR_KEY)).body;
    expect(done.tasks?.items.find((t) => t.task_id === job.task_id)?.status).toBe('completed');
    expect(done.price_board.industrial.median).toBe('0.002');
    const other = job.task_id === mine.task_id ? theirs : mine;
    await tm.operator.cancelTask(other.task_id);
  });

  it('shows the market tight and the industrial lane deferred while consumer work waits too long', async () => {
    const cheap = pool.make();
    await cheap.join({ slots: 1, units: 100 });
    const dear = pool.make();
    await dear.join({
      slots: 1,
      units: 100,
      price: '10',
      capability: { ...CPU_CAPABILITY, challenge_types: ['inference'], models: ['gpt-3.5-turbo'] },
    });
    const { client } = await tm.customer('1.0');
    const inference = await client.createTask({
      challenge_type: 'inference',
      payload: EXAMPLE_PAYLOADS.inference,
      reward: '0.1',
    });
    await tm.market.dispatcher.tick();
    clock.advance(31_000);
    await tm.market.dispatcher.tick();
    const tight = (await state()).body;
    expect(tight.admission.mode).toBe('tight');
    expect(tight.lanes.industrial.deferred).toBe(true);
    expect(tight.lanes.consumer).toEqual({ queued: 1, running: 0, deferred: false });
    await client.cancelTask(inference.task_id);
    await tm.market.dispatcher.tick();
    expect((await state()).body.admission.mode).toBe('loose');
  });

  it('refuses a wrong key (401), a key in the wrong shape and a bad limit (400), and honours the limit', async () => {
    const bad = await fetch(`${tm.url}/dashboard/state`, {
      headers: { authorization: 'Bearer tm_not-a-real-key' },
    });
    expect(bad.status).toBe(401);
    expect(await bad.json()).toMatchObject({ error: { code: 'unauthorized' } });
    const basic = await fetch(`${tm.url}/dashboard/state`, { headers: { authorization: 'Basic YTpi' } });
    expect(basic.status).toBe(401);
    for (const q of ['?limit=0', '?limit=101', '?limit=x', '?other=1']) {
      const res = await state(undefined, q);
      expect(res.status, q).toBe(400);
      expect(res.body).toMatchObject({ error: { code: 'validation_error' } });
    }
    const { client, apiKey } = await tm.customer('5.0');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await client.createTask(synthetic)).task_id);
    const limited = (await state(apiKey, '?limit=2')).body;
    expect(limited.tasks?.items.map((t) => t.task_id)).toEqual([ids[2], ids[1]]);
    expect(limited.tasks?.total).toBe(3);
    for (const id of ids) await client.cancelTask(id);
  });
});

describe('GET /dashboard/events', () => {
  // Last in the file: the task it creates would change the lanes the tests above count.
  it('tells anyone, without a key and with no data, when the market changed', async () => {
    const abort = new AbortController();
    const res = await fetch(`${tm.url}/dashboard/events`, { signal: abort.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    const until = async (pattern: RegExp) => {
      while (!pattern.test(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the stream ended; it sent: ${text}`);
        text += decoder.decode(value, { stream: true });
      }
    };
    try {
      await until(/event: ready\ndata: \{\}\n\n/);
      const { client } = await tm.customer('5.0');
      const task = await client.createTask(synthetic);
      await until(/event: changed\ndata: \{\}\n\n/);
      // A hint, nothing else: no task id, no account, whoever listens.
      expect(text).not.toContain(task.task_id);
    } finally {
      abort.abort();
      await reader.cancel().catch(() => {});
    }
  });
});
