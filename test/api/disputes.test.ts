// Customers dispute results the market accepted unchecked (issue "Trust": "otherwise by canaries
// and the customer's dispute"). Work that can be re-derived is audited by independent providers,
// even after the task settled; work nothing can re-derive is recorded against its provider.
// Cheating workers are scripted by the test, never a switch in the product.

import { randomUUID } from 'node:crypto';
import { expect, it, onTestFinished, vi } from 'vitest';
import type { SchedulerParams } from '../../src/domain/scheduler-params.js';
import { verifyLedger } from '../../src/market/ledger.js';
import {
  perTestMarkets,
  providerBalance,
  providerScore,
  realSettlement,
  startTestMarket,
  type TestMarket,
} from '../helpers/market.js';
import { CPU_CAPABILITY } from '../helpers/ws-worker.js';
import { until } from '../helpers/until.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';

// Several providers and round trips per test: generous on a loaded machine (nothing here is timed).
vi.setConfig({ testTimeout: 120_000 });

const { pool, track } = perTestMarkets();

/** Providers the market already trusts and samples at rate 0: every result is accepted unchecked. */
async function market(params: Partial<SchedulerParams> = {}): Promise<TestMarket> {
  const tm = track(
    await startTestMarket({
      config: { webhook_allow_private: true },
      params: {
        verification_enabled: true,
        probation_jobs: 0,
        verify_rate_max: 0,
        verify_rate_min: 0,
        canary_rate: 0,
        market_check_max_muladds: 0,
        ...params,
      },
    }),
  );
  await realSettlement(tm);
  return tm;
}

const synthetic = (seed: string) => ({
  challenge_type: 'synthetic' as const,
  payload: { seed, matrix_size: 8, iterations: 2 },
  reward: '1.0',
});

type Task = { status: string; verified?: boolean; result?: { result_hash: string; worker_address: string } };
type Dispute = { job_id: string; kind: string; status: string; provider: string };
type Client = Awaited<ReturnType<TestMarket['customer']>>['client'];

async function completed(client: Client, id: string): Promise<Task> {
  return until(`task ${id} to complete`, async () => {
    const t = (await client.getTask(id)) as Task;
    return t.status === 'completed' ? t : undefined;
  });
}

async function disputes(client: Client, id: string): Promise<Dispute[]> {
  return (await client.taskDisputes(id)).disputes as Dispute[];
}

it('audits a disputed result after settlement: two providers outvote the cheat, its settled results are corrected', async () => {
  const tm = await market();
  const { client } = await tm.customer('10.0');
  const cheat = await pool.joined({ price: '0.0001' });
  cheat.answer((job) => cheat.fabricated(job));
  const receiver = new WebhookReceiver();
  const url = await receiver.listen();
  onTestFinished(() => receiver.close());
  const task = await client.createTask({
    ...synthetic('d1'),
    webhook_url: url,
    webhook_secret: 'x'.repeat(16),
  });
  const first = await completed(client, task.task_id);
  await receiver.count(1);
  expect(first).toMatchObject({ verified: false, result: { worker_address: cheat.key.address } });
  // Another task of the cheat's, settled and never disputed.
  const other = await client.createTask(synthetic('d10e'));
  const otherFirst = await completed(client, other.task_id);
  expect(otherFirst.result?.worker_address).toBe(cheat.key.address);

  const honest = [await pool.joined(), await pool.joined()];
  for (const w of honest) w.answer((job) => w.honest(job));
  const opened = await client.request<{ disputes: Dispute[] }>('POST', `/tasks/${task.task_id}/disputes`, {
    reason: 'the proof does not match my own run',
  });
  expect(opened.disputes).toMatchObject([{ kind: 'audit', status: 'open', provider: cheat.key.address }]);

  const [resolved] = await until('the audit to resolve', async () => {
    const d = await disputes(client, task.task_id);
    return d[0]?.status === 'open' ? undefined : d;
  });
  expect(resolved?.status).toBe('upheld');
  const after = (await client.getTask(task.task_id)) as Task;
  expect(after.status).toBe('completed');
  expect(after.verified).toBe(true);
  expect(after.result?.result_hash).not.toBe(first.result?.result_hash);
  // The customer's webhook is told again, with the corrected result.
  await receiver.count(2);
  const told = receiver.received.map((r) => JSON.parse(r.body) as { delivery_id: string; task: Task });
  expect(told[0]?.task.result?.result_hash).toBe(first.result?.result_hash);
  expect(told[1]?.task.result?.result_hash).toBe(after.result?.result_hash);
  expect(told[1]?.delivery_id).not.toBe(told[0]?.delivery_id);
  expect(honest.map((w) => w.key.address)).toContain(after.result?.worker_address);
  expect(await providerScore(tm, cheat.key.address)).toBe(-1000);
  // Once caught, everything it delivered unchecked within the dispute window is audited too.
  const corrected = await until('the cheat’s other settled task to be corrected', async () => {
    const t = (await client.getTask(other.task_id)) as Task;
    return t.verified ? t : undefined;
  });
  expect(corrected.result?.result_hash).not.toBe(otherFirst.result?.result_hash);
  expect(honest.map((w) => w.key.address)).toContain(corrected.result?.worker_address);
  for (const w of honest) expect(await providerScore(tm, w.key.address)).toBeGreaterThanOrEqual(0);
  // The auditors are paid from the validators' share of the charge: the worker share went out at settlement.
  for (const w of honest) expect(await providerBalance(tm, w.key.address)).toBeGreaterThan(0n);
  expect(await (await fetch(`${tm.url}/metrics`)).text()).toMatch(/disputes_total\{status="upheld"\} 1/);
  expect(
    await tm.operator.request('POST', '/rpc', { method: 'compute_market.verification_stats' }),
  ).toMatchObject({ disputes: { upheld: 1 } });
  expect((await verifyLedger(tm.market.db)).ok).toBe(true);
});

it('rejects a dispute of an honest result once an independent provider agrees with it', async () => {
  const tm = await market();
  const { client } = await tm.customer('10.0');
  const first = await pool.joined({ price: '0.0001' });
  first.answer((job) => first.honest(job));
  const task = await client.createTask(synthetic('d2'));
  await completed(client, task.task_id);
  const second = await pool.joined();
  second.answer((job) => second.honest(job));
  const before = await providerScore(tm, first.key.address);

  await client.request('POST', `/tasks/${task.task_id}/disputes`, { reason: 'I do not believe it' });
  const [resolved] = await until('the audit to resolve', async () => {
    const d = await disputes(client, task.task_id);
    return d[0]?.status === 'open' ? undefined : d;
  });
  expect(resolved?.status).toBe('rejected');
  expect(await client.getTask(task.task_id)).toMatchObject({
    verified: true,
    result: { worker_address: first.key.address },
  });
  expect(await providerScore(tm, first.key.address)).toBeGreaterThanOrEqual(before);
  // One dispute per result: the verdict stands.
  const again = await client
    .request('POST', `/tasks/${task.task_id}/disputes`, { reason: 'still no' })
    .catch((e) => e);
  expect(again).toMatchObject({ status: 409, code: 'not_disputable' });
});

it('records a dispute of work nothing can re-derive against its provider, once, by the task’s customer, in the window', async () => {
  const tm = await market();
  const { client } = await tm.customer('10.0');
  const task = await client.createTask({
    challenge_type: 'inference',
    payload: { model_id: 'm', prompt: 'a poem', max_tokens: 5, temperature: 0.8 },
    reward: '1.0',
  });
  // Disputed before it completed (no provider yet), or by someone else: refused, nothing recorded.
  expect(
    await client.request('POST', `/tasks/${task.task_id}/disputes`, { reason: 'too early' }).catch((e) => e),
  ).toMatchObject({ status: 409, code: 'not_disputable', details: { problem: 'task_not_completed' } });
  const llm = { ...CPU_CAPABILITY, challenge_types: ['inference' as const], models: ['m'] };
  const w = await pool.joined({ capability: llm });
  w.answer((job) =>
    w.resultWith(
      job,
      job.slices.map(() => 'ab'.repeat(32)),
    ),
  );
  await completed(client, task.task_id);
  const other = (await tm.customer('1.0')).client;
  expect(
    await other.request('POST', `/tasks/${task.task_id}/disputes`, { reason: 'not mine' }).catch((e) => e),
  ).toMatchObject({ status: 404 });
  expect(
    await client.request('POST', `/tasks/${task.task_id}/disputes`, { reason: '' }).catch((e) => e),
  ).toMatchObject({ status: 400 });
  expect(
    await client
      .request('POST', `/tasks/${task.task_id}/disputes`, { reason: 'wrong job', job_id: randomUUID() })
      .catch((e) => e),
  ).toMatchObject({ status: 404, code: 'not_found' });
  const before = await providerScore(tm, w.key.address);

  const opened = await client.request<{ disputes: Dispute[] }>('POST', `/tasks/${task.task_id}/disputes`, {
    reason: 'the poem is about something else',
  });
  expect(opened.disputes).toMatchObject([{ kind: 'recorded', status: 'recorded', provider: w.key.address }]);
  expect(await providerScore(tm, w.key.address)).toBeLessThan(before);
  expect(
    await client.request('POST', `/tasks/${task.task_id}/disputes`, { reason: 'again' }).catch((e) => e),
  ).toMatchObject({ status: 409, code: 'not_disputable' });

  // Past dispute_window_secs nothing more is taken.
  await tm.operator.request('PUT', '/params', { dispute_window_secs: 0 });
  const late = await client.createTask({
    challenge_type: 'inference',
    payload: { model_id: 'm', prompt: 'another', max_tokens: 5, temperature: 0.8 },
    reward: '1.0',
  });
  await completed(client, late.task_id);
  const closed = await client
    .request('POST', `/tasks/${late.task_id}/disputes`, { reason: 'late' })
    .catch((e) => e);
  expect(closed).toMatchObject({ status: 409, details: { problem: 'dispute_window_closed' } });
  expect(await disputes(client, late.task_id)).toEqual([]);
});
