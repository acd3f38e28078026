// The scheduler wired into the node: priority order, reputation after outcomes, the RPC methods
// (JSON-RPC and the spec's bare form), job cancellation and runtime parameters.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ApiError } from '../../src/client/client.js';
import { parseAmount } from '../../src/domain/money.js';
import type { JobMsg } from '../../src/domain/schemas/worker.js';
import { startTestMarket, type TestMarket } from '../helpers/market.js';
import { WorkerPool } from '../helpers/ws-worker.js';

let tm: TestMarket;
const pool = new WorkerPool(() => ({ url: tm.url, connected: () => tm.market.dispatcher.connected }));
beforeAll(async () => {
  tm = await startTestMarket({ config: { lease_ms: 5000 } });
});
afterAll(async () => {
  await tm?.close();
});
// Each test starts with no worker connected, so jobs go only to the workers it made.
afterEach(() => pool.closeAll());

const worker = () => pool.make();

const synthetic = (priority?: 'low' | 'normal' | 'high') => ({
  challenge_type: 'synthetic' as const,
  payload: { seed: 'ab', matrix_size: 2, iterations: 1 },
  reward: '1.0',
  ...(priority ? { priority } : {}),
});

async function rpc<T>(key: string, body: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${tm.url}/rpc`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}

describe('priority', () => {
  it('runs high before normal before low, each in arrival order', async () => {
    const { client } = await tm.customer('20.0');
    const low = await client.createTask(synthetic('low'));
    const normal = await client.createTask(synthetic());
    const high = await client.createTask(synthetic('high'));
    expect((await client.getTask(low.task_id)).priority).toBe('low');
    const w = worker();
    await w.join({ slots: 1 });
    const order: string[] = [];
    for (let i = 0; i < 3; i++) {
      const job = await w.next<JobMsg>('job');
      order.push(job.task_id);
      w.send(w.result(job));
      await w.next('result_accepted');
    }
    expect(order).toEqual([high.task_id, normal.task_id, low.task_id]);
  });

  it('rejects an unknown priority', async () => {
    const { client } = await tm.customer('5.0');
    await expect(client.createTask({ ...synthetic(), priority: 'urgent' as never })).rejects.toMatchObject({
      status: 400,
    });
  });
});

describe('reputation and stats', () => {
  it('raises a provider on success and lowers it on failure, persisted', async () => {
    const { client } = await tm.customer('10.0');
    const w = worker();
    await w.join({ slots: 1 });
    const t1 = await client.createTask(synthetic());
    const j1 = await w.next<JobMsg>('job', (m) => m.task_id === t1.task_id);
    w.send(w.result(j1));
    await w.next('result_accepted');
    expect(tm.market.dispatcher.reputationOf(w.key.address)).toBe(10);
    const t2 = await client.createTask(synthetic());
    const j2 = await w.next<JobMsg>('job', (m) => m.task_id === t2.task_id);
    w.send({ type: 'job_failed', job_id: j2.job_id, reason: 'runner_error', message: 'GPU fell over' });
    await expect.poll(() => tm.market.dispatcher.reputationOf(w.key.address)).toBe(-40);
    const [row] = await tm.market.db.query<{ score: number }>(
      'SELECT score FROM provider_reputation WHERE address = $1',
      [w.key.address],
    );
    expect(row?.score).toBe(-40);

    // Negative reputation: the job now waits with reputation_failure.
    await expect
      .poll(
        async () =>
          (await client.request<{ jobs: { waiting_reason?: string }[] }>('GET', `/tasks/${t2.task_id}/jobs`))
            .jobs[0]?.waiting_reason,
      )
      .toBe('reputation_failure');
    await client.cancelTask(t2.task_id);
  });

  it('answers the spec bare form and JSON-RPC 2.0', async () => {
    const { apiKey } = await tm.customer('1.0');
    const bare = await rpc<Record<string, unknown>>(apiKey, { method: 'compute_market.scheduler_stats' });
    expect(bare.status).toBe(200);
    expect(bare.body).toMatchObject({
      success: expect.any(Number),
      capability_mismatch: expect.any(Number),
      active_jobs: 0,
    });
    expect(bare.body.queue_depths).toEqual(
      expect.objectContaining({
        low: expect.any(Number),
        normal: expect.any(Number),
        high: expect.any(Number),
      }),
    );
    const wrapped = await rpc<{ jsonrpc: string; id: number; result: Record<string, unknown> }>(apiKey, {
      jsonrpc: '2.0',
      id: 7,
      method: 'compute_market.stats',
    });
    expect(wrapped.body).toMatchObject({
      jsonrpc: '2.0',
      id: 7,
      result: { industrial_backlog: expect.any(Number) },
    });
    const unknown = await rpc<{ error: { code: number; data: { code: string } } }>(apiKey, {
      jsonrpc: '2.0',
      id: 1,
      method: 'nope',
    });
    expect(unknown.body.error).toMatchObject({ code: -32601, data: { code: 'method_not_found' } });
    expect((await rpc(apiKey, { method: 'nope' })).status).toBe(404);
  });
});

describe('price board', () => {
  it("shows each lane's bands and a bid raised by the lane's backlog", async () => {
    const { client, apiKey } = await tm.customer('10.0');
    const w = worker();
    await w.join({ slots: 1, price: '0.002' });
    const first = await client.createTask(synthetic());
    await w.next<JobMsg>('job', (m) => m.task_id === first.task_id);
    // The only slot is busy: these wait in the industrial lane.
    const waiting = [await client.createTask(synthetic()), await client.createTask(synthetic())];
    await tm.market.dispatcher.tick();
    const board = await rpc<Record<string, Record<string, string | number | null>>>(apiKey, {
      method: 'compute_market.price_board',
    });
    expect(board.status).toBe(200);
    const lane = board.body.industrial as Record<string, string | number | null>;
    expect(lane.backlog).toBeGreaterThanOrEqual(2);
    expect(lane.median).not.toBeNull();
    // median × (1 + backlog/window), window 100 (price_board_window), in base units rounded down.
    const base = (v: string) => {
      const parsed = parseAmount(v);
      if (!parsed.ok) throw new Error(`not an amount: ${v}`);
      return parsed.value;
    };
    const expected = (base(lane.median as string) * BigInt(100 + (lane.backlog as number))) / 100n;
    expect(base(lane.suggested_bid as string)).toBe(expected);
    expect(board.body.consumer).toMatchObject({ backlog: expect.any(Number) });
    for (const t of [first, ...waiting]) await client.cancelTask(t.task_id);
  });
});

describe('job cancellation', () => {
  it('cancels a job for its customer, refunds, logs it, and refuses a second time', async () => {
    const { client, apiKey } = await tm.customer('10.0');
    const t = await client.createTask({ ...synthetic(), requirements: { gpu_count: 8 } });
    const { jobs } = await client.request<{ jobs: { job_id: string }[] }>('GET', `/tasks/${t.task_id}/jobs`);
    const jobId = jobs[0]?.job_id as string;
    const w = worker();
    await w.join({ slots: 1 });
    await expect
      .poll(async () => (await client.getTask(t.task_id)).waiting_reason)
      .toBe('capability_mismatch');
    const req = await rpc<Record<string, unknown>>(apiKey, {
      method: 'compute.job_requirements',
      params: { job_id: jobId },
    });
    expect(req.body).toMatchObject({ challenge_type: 'synthetic', requirements: { gpu_count: 8 }, units: 1 });

    const stranger = await tm.customer('1.0');
    expect(
      (await rpc(stranger.apiKey, { method: 'compute.job_cancel', params: { job_id: jobId } })).status,
    ).toBe(404);
    expect(await rpc(apiKey, { method: 'compute.job_cancel', params: { job_id: jobId } })).toMatchObject({
      status: 200,
      body: { job_id: jobId, status: 'cancelled' },
    });
    expect(await client.me()).toMatchObject({ balance: '10.0', escrow: '0.0' });
    const again = await rpc<{ error: { code: string; message: string } }>(apiKey, {
      method: 'compute.job_cancel',
      params: { job_id: jobId },
    });
    expect(again).toMatchObject({
      status: 409,
      body: { error: { code: 'already_done', message: 'job already cancelled' } },
    });
    const log = await tm.market.db.query('SELECT reason, actor FROM cancellations WHERE job_id = $1', [
      jobId,
    ]);
    expect(log).toEqual([{ reason: 'client', actor: 'customer' }]);
    expect((await rpc(apiKey, { method: 'compute.job_cancel', params: { job_id: 'x' } })).status).toBe(400);
  });
});

describe('parameters', () => {
  it('reads, changes (operator only, validated, audited) and applies at once', async () => {
    const { apiKey } = await tm.customer('1.0');
    const read = (await (
      await fetch(`${tm.url}/params`, { headers: { authorization: `Bearer ${apiKey}` } })
    ).json()) as Record<string, unknown>;
    expect(read).toMatchObject({
      fair_share_cap: 0.25,
      burst_quota: 30,
      burst_refill_rate: 0.5,
      reputation_multiplier_min: 0.5,
    });
    await expect(
      tm.operator.request('PUT', '/params', { reputation_multiplier_min: 1.5 }),
    ).rejects.toBeInstanceOf(ApiError);
    await expect(tm.operator.request('PUT', '/params', { no_such_key: 1 })).rejects.toMatchObject({
      status: 400,
    });
    const forbidden = await fetch(`${tm.url}/params`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: '{"fair_share_cap":0.5}',
    });
    expect(forbidden.status).toBe(403);
    const changed = await tm.operator.request<Record<string, unknown>>('PUT', '/params', {
      fair_share_cap: 0.4,
    });
    expect(changed.fair_share_cap).toBe(0.4);
    expect(tm.market.params.get().fair_share_cap).toBe(0.4);
    const audit = await tm.market.db.query<{ patch: unknown }>('SELECT patch FROM params_audit');
    expect(audit.at(-1)?.patch).toEqual({ fair_share_cap: 0.4 });
  });
});
