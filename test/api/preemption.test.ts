// Preemption and cancellation reasons through real WebSocket workers: a better-reputed provider
// takes a running job over, the first is told and not penalised, its late result is refused, and
// the job completes and is recorded once; a provider-side cancel requeues and costs reputation.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { JobMsg } from '../../src/domain/schemas/worker.js';
import { saveReputation } from '../../src/store/scheduler.js';
import { EXAMPLE_PAYLOADS, startTestMarket, type TestMarket } from '../helpers/market.js';
import { WorkerPool } from '../helpers/ws-worker.js';

let tm: TestMarket;
const pool = new WorkerPool(() => ({ url: tm.url, connected: () => tm.market.dispatcher.connected }));
beforeAll(async () => {
  tm = await startTestMarket({
    config: { lease_ms: 10_000 },
    params: { enable_preempt: true, preempt_min_delta: 100 },
  });
});
afterAll(async () => {
  await tm?.close();
});
afterEach(() => pool.closeAll());

const synthetic = {
  challenge_type: 'synthetic' as const,
  payload: { seed: 'ab', matrix_size: 2, iterations: 1 },
  reward: '1.0',
};

async function metric(line: string): Promise<number | undefined> {
  const text = await (await fetch(`${tm.url}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(line + ' '));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

describe('preemption', () => {
  it('moves a running job to a provider whose reputation leads by preempt_min_delta', async () => {
    const { client } = await tm.customer('5.0');
    const a = pool.make();
    await a.join({ slots: 1 });
    const task = await client.createTask(synthetic);
    const first = await a.next<JobMsg>('job');

    const b = pool.make();
    await saveReputation(tm.market.db, b.key.address, { score: 500, epoch: 1, updatedAtMs: Date.now() });
    await b.join({ slots: 1 });
    const cancel = await a.next<{ job_id: string; reason: string }>('cancel');
    expect(cancel).toMatchObject({ job_id: first.job_id, reason: 'preempted' });
    const moved = await b.next<JobMsg>('job');
    expect(moved.job_id).toBe(first.job_id);

    // The first provider's late result is refused; the second's completes the task once.
    a.send(a.result(first));
    expect(await a.next<{ code: string }>('error')).toMatchObject({ code: 'not_leased' });
    b.send(b.result(moved));
    await b.next('result_accepted');
    await expect.poll(async () => (await client.getTask(task.task_id)).status).toBe('completed');
    const receipts = await tm.market.db.query('SELECT 1 FROM receipts WHERE job_id = $1', [first.job_id]);
    expect(receipts).toHaveLength(1);

    const log = await tm.market.db.query<{ reason: string; provider: string }>(
      'SELECT reason, provider FROM cancellations WHERE job_id = $1',
      [first.job_id],
    );
    expect(log).toEqual([{ reason: 'preempted', provider: a.key.address }]);
    expect(tm.market.dispatcher.reputationOf(a.key.address)).toBe(0);
    expect(tm.market.dispatcher.stats.preemptions).toBe(1);
    expect(await metric('scheduler_preempt_total{reason="success"}')).toBe(1);
    expect(await metric('scheduler_cancel_total{reason="preempted"}')).toBe(1);
  });

  it('leaves a job where it is when the newcomer does not lead by enough', async () => {
    const { client } = await tm.customer('5.0');
    const a = pool.make();
    await a.join({ slots: 1 });
    await client.createTask(synthetic);
    const job = await a.next<JobMsg>('job');
    const b = pool.make();
    await saveReputation(tm.market.db, b.key.address, { score: 50, epoch: 1, updatedAtMs: Date.now() });
    await b.join({ slots: 1 });
    await tm.market.dispatcher.preemptFor(
      tm.market.dispatcher.sessionList().find((s) => s.address === b.key.address)!,
    );
    a.send(a.result(job));
    await a.next('result_accepted');
  });
});

describe('cancellation reasons', () => {
  it('a provider-side cancel requeues the job elsewhere and costs the provider reputation', async () => {
    const { client } = await tm.customer('5.0');
    const a = pool.make();
    await a.join({ slots: 1 });
    const task = await client.createTask(synthetic);
    const job = await a.next<JobMsg>('job');
    await tm.operator.request('POST', '/rpc', {
      method: 'compute.job_cancel',
      params: { job_id: job.job_id, reason: 'provider' },
    });
    expect(await a.next<{ reason: string }>('cancel')).toMatchObject({ job_id: job.job_id });
    expect(tm.market.dispatcher.reputationOf(a.key.address)).toBe(-25);
    const b = pool.make();
    await b.join({ slots: 1 });
    const again = await b.next<JobMsg>('job');
    expect(again.job_id).toBe(job.job_id);
    b.send(b.result(again));
    await b.next('result_accepted');
    await expect.poll(async () => (await client.getTask(task.task_id)).status).toBe('completed');
    const log = await tm.market.db.query<{ reason: string }>(
      'SELECT reason FROM cancellations WHERE job_id = $1',
      [job.job_id],
    );
    expect(log).toEqual([{ reason: 'provider' }]);
    expect(await metric('scheduler_cancel_total{reason="provider"}')).toBe(1);
  });

  it('a client cancel stops the running job, refunds, and does not penalise the provider', async () => {
    const { client, apiKey } = await tm.customer('5.0');
    const a = pool.make();
    await a.join({ slots: 1 });
    await client.createTask(synthetic);
    const job = await a.next<JobMsg>('job');
    const before = tm.market.dispatcher.reputationOf(a.key.address);
    const res = await fetch(`${tm.url}/rpc`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ method: 'compute.job_cancel', params: { job_id: job.job_id } }),
    });
    expect(res.status).toBe(200);
    expect(await a.next<{ job_id: string }>('cancel')).toMatchObject({ job_id: job.job_id });
    expect(await client.me()).toMatchObject({ balance: '5.0', escrow: '0.0' });
    expect(tm.market.dispatcher.reputationOf(a.key.address)).toBe(before);
    expect(await metric('scheduler_cancel_total{reason="client"}')).toBe(1);
  });

  it('cancelling a task through POST /tasks/{id}/cancel logs each of its open jobs', async () => {
    const { client } = await tm.customer('5.0');
    const task = await client.createTask({
      challenge_type: 'rendering',
      payload: { ...EXAMPLE_PAYLOADS.rendering, frames: 30 },
      reward: '1.0',
    });
    await client.cancelTask(task.task_id);
    const log = await tm.market.db.query<{ reason: string }>(
      'SELECT reason FROM cancellations WHERE task_id = $1',
      [task.task_id],
    );
    expect(log.length).toBe(
      (await client.request<{ jobs: unknown[] }>('GET', `/tasks/${task.task_id}/jobs`)).jobs.length,
    );
    expect(log.length).toBeGreaterThan(1);
    expect(new Set(log.map((l) => l.reason))).toEqual(new Set(['client']));
  });
});
