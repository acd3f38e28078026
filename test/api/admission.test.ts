// Industrial admission through the API: refusals with their codes (503 capacity, 429 fair_share
// and burst_exhausted) that change nothing, consumer work that always passes, and the comfort
// guard that holds industrial work back while consumers wait.

import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../src/domain/clock.js';
import type { JobMsg } from '../../src/domain/schemas/worker.js';
import { EXAMPLE_PAYLOADS, startTestMarket, type TestMarket } from '../helpers/market.js';
import { CPU_CAPABILITY, WorkerPool } from '../helpers/ws-worker.js';

const clock = new ManualClock(1_800_000_000_000);
let tm: TestMarket;
const pool = new WorkerPool(() => ({ url: tm.url, connected: () => tm.market.dispatcher.connected }));
// About 10 s alone; more than 30 s on a loaded 2-core machine.
vi.setConfig({ testTimeout: 120_000 });

beforeAll(async () => {
  tm = await startTestMarket({
    clock,
    background: false,
    // A cap of 1% of 100 units/s over 60 s is 60 units; the burst quota adds 30 and never refills.
    params: { admission_enabled: true, fair_share_cap: 0.01, burst_refill_rate: 0 },
  });
});
afterAll(async () => {
  await tm?.close();
});
afterEach(() => pool.closeAll());

const synthetic = (priority: 'normal' | 'high' = 'normal') => ({
  challenge_type: 'synthetic' as const,
  payload: { seed: 'ab', matrix_size: 2, iterations: 1 },
  reward: '0.01',
  priority,
});

async function create(apiKey: string, body: unknown) {
  const res = await fetch(`${tm.url}/tasks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    body: (await res.json()) as {
      task_id?: string;
      error?: { code: string; details?: Record<string, unknown> };
    },
  };
}

async function metric(line: string): Promise<number | undefined> {
  const text = await (await fetch(`${tm.url}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(line + ' '));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

describe('industrial admission', () => {
  it('refuses industrial work with 503 capacity while no provider offers any, and takes consumer work', async () => {
    const { apiKey, client } = await tm.customer('1.0');
    const refused = await create(apiKey, synthetic());
    expect(refused.status).toBe(503);
    expect(refused.body.error).toMatchObject({
      code: 'capacity',
      details: { capacity: 0, min_capacity: 10 },
    });
    expect(refused.retryAfter).toBe('5');
    expect(await client.me()).toMatchObject({ balance: '1.0', escrow: '0.0' });
    expect((await client.listTasks()).total).toBe(0);

    const consumer = await create(apiKey, {
      challenge_type: 'inference',
      payload: EXAMPLE_PAYLOADS.inference,
      reward: '0.1',
    });
    expect(consumer.status).toBe(201);
    await client.cancelTask(consumer.body.task_id as string);
    expect(await metric('industrial_rejected_total{reason="capacity"}')).toBe(1);
  });

  it('holds a buyer to its fair share, then its burst quota, and lets it back as usage decays', async () => {
    const w = pool.make();
    // It runs no synthetic work: the jobs stay queued, and only admission is measured.
    await w.join({ slots: 1, units: 100, capability: { ...CPU_CAPABILITY, challenge_types: ['gpuhash'] } });
    const { apiKey, client } = await tm.customer('10.0');
    const ids: string[] = [];
    for (let i = 0; i < 89; i++) {
      const created = await create(apiKey, synthetic());
      expect(created.status).toBe(201);
      ids.push(created.body.task_id as string);
    }
    // 60 units within the cap, 29 paid from the burst bucket: one token left, and a task of two
    // units is more than it can pay.
    const two = { ...synthetic(), payload: { seed: 'ab', matrix_size: 1000, iterations: 2 } };
    expect((await create(apiKey, two)).body.error?.code).toBe('burst_exhausted');
    const last = await create(apiKey, synthetic());
    expect(last.status).toBe(201);
    ids.push(last.body.task_id as string);
    // The bucket is empty now: over the cap, the fair share itself refuses.
    const over = await create(apiKey, synthetic());
    expect(over).toMatchObject({ status: 429, body: { error: { code: 'fair_share' } } });
    expect(over.retryAfter).toBe('15');
    clock.advance(5000);
    // Another buyer is not affected by this one's usage.
    const other = await tm.customer('1.0');
    const others = await create(other.apiKey, synthetic());
    expect(others.status).toBe(201);
    clock.advance(25_000);
    const back = await create(apiKey, synthetic());
    expect(back.status).toBe(201);
    expect(await client.me()).toMatchObject({ escrow: '0.91' });
    expect(await metric('industrial_rejected_total{reason="fair_share"}')).toBe(1);
    expect(await metric('industrial_rejected_total{reason="burst_exhausted"}')).toBe(1);
    expect(await metric('industrial_admitted_total')).toBe(92);
    expect(await metric('mempool_size{lane="industrial"}')).toBe(92);
    for (const id of [...ids, back.body.task_id as string]) await client.cancelTask(id);
    await other.client.cancelTask(others.body.task_id as string);
  });

  it('goes tight while consumer work waits too long, defers industrial work, and releases it when loose', async () => {
    const w = pool.make();
    await w.join({ slots: 1, units: 100 });
    // A provider that serves the model, but above what the task pays: the inference job waits.
    const dear = pool.make();
    const model = String(EXAMPLE_PAYLOADS.inference.model_id);
    await dear.join({
      slots: 1,
      units: 100_000,
      price: '10',
      capability: { ...CPU_CAPABILITY, challenge_types: ['inference'], models: [model] },
    });
    const { apiKey, client } = await tm.customer('1.0');
    const inference = await create(apiKey, {
      challenge_type: 'inference',
      payload: EXAMPLE_PAYLOADS.inference,
      reward: '0.1',
    });
    await tm.market.dispatcher.tick();
    expect(tm.market.admission.mode).toBe('loose');
    clock.advance(31_000);
    await tm.market.dispatcher.tick();
    expect(tm.market.admission.mode).toBe('tight');
    expect(await metric('admission_mode{mode="tight"}')).toBe(1);
    expect(await metric('match_loop_latency_seconds_count')).toBeGreaterThan(0);

    const batch = await create(apiKey, synthetic('high'));
    expect(batch.status).toBe(201);
    expect(await metric('industrial_deferred_total')).toBe(1);
    await tm.market.dispatcher.tick();
    const { jobs } = await client.request<{ jobs: { waiting_reason?: string }[] }>(
      'GET',
      `/tasks/${batch.body.task_id}/jobs`,
    );
    expect(jobs[0]?.waiting_reason).toBe('deferred');
    expect((await client.getTask(batch.body.task_id as string)).waiting_reason).toBe('deferred');

    await client.cancelTask(inference.body.task_id as string);
    await tm.market.dispatcher.tick();
    const job = await w.next<JobMsg>('job');
    expect(job.task_id).toBe(batch.body.task_id);
    expect(tm.market.admission.mode).toBe('loose');
  });

  it('stays loose while the only waiting consumer work is a model no provider serves', async () => {
    const w = pool.make();
    await w.join({ slots: 4, units: 100 });
    const { apiKey, client } = await tm.customer('1.0');
    const inference = await create(apiKey, {
      challenge_type: 'inference',
      payload: { ...EXAMPLE_PAYLOADS.inference, model_id: 'nobody-serves-this' },
      reward: '0.1',
    });
    clock.advance(31_000);
    await tm.market.dispatcher.tick();
    expect(tm.market.admission.mode).toBe('loose');
    const batch = await create(apiKey, synthetic());
    expect(batch.status).toBe(201);
    await tm.market.dispatcher.tick();
    // Industrial work is not deferred: it runs (an earlier test's requeued job may come first).
    await w.next<JobMsg>('job', (m) => m.task_id === batch.body.task_id);
    expect((await client.getTask(inference.body.task_id as string)).waiting_reason).toBe(
      'capability_mismatch',
    );
    await client.cancelTask(inference.body.task_id as string);
  });

  it('goes tight when waiting consumers face a p90 price above comfort_threshold_p90', async () => {
    await tm.operator.request('PUT', '/params', { comfort_threshold_p90: '0.0005' });
    const w = pool.make();
    await w.join({
      slots: 1,
      units: 100,
      price: '0.001',
      capability: { ...CPU_CAPABILITY, challenge_types: ['inference'], models: ['gpt-3.5-turbo'] },
    });
    const { apiKey } = await tm.customer('1.0');
    const inference = { challenge_type: 'inference', payload: EXAMPLE_PAYLOADS.inference, reward: '0.1' };
    await create(apiKey, inference);
    await w.next<JobMsg>('job');
    expect(tm.market.priceBoard.consumerFees().p90).toBe(10n ** 15n);
    await create(apiKey, inference);
    await tm.market.dispatcher.tick();
    expect(tm.market.admission.mode).toBe('tight');
    expect(await metric('consumer_fee_p90')).toBe(1e15);
    await tm.operator.request('PUT', '/params', { comfort_threshold_p90: '1.0' });
    await tm.market.dispatcher.tick();
    expect(tm.market.admission.mode).toBe('loose');
  });

  it('lets the operator turn admission off at runtime', async () => {
    const { apiKey } = await tm.customer('1.0');
    await tm.operator.request('PUT', '/params', { admission_enabled: false });
    expect((await create(apiKey, synthetic())).status).toBe(201);
    await tm.operator.request('PUT', '/params', { admission_enabled: true });
    expect((await create(apiKey, synthetic())).status).toBe(503);
  });
});
