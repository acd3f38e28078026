// SLA bonds through a real worker: a provider posts sla_bond_pct of an industrial job's price
// when it takes the job, gets it back when the job completes or the client cancels, and loses it
// to the treasury when the task's deadline passes while the job runs or the provider cancels it
// (penalize_sla). The ledger balances at every step.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/clock.js';
import { SYSTEM_ACCOUNTS } from '../../src/domain/ledger.js';
import type { JobMsg } from '../../src/domain/schemas/worker.js';
import { verifyLedger } from '../../src/market/ledger.js';
import { startTestMarket, type TestMarket } from '../helpers/market.js';
import { ScriptedWorker } from '../helpers/ws-worker.js';

const clock = new ManualClock(1_800_000_000_000);
let tm: TestMarket;
let worker: ScriptedWorker;
let providerAccount: string;

beforeAll(async () => {
  tm = await startTestMarket({ clock, background: false, params: { sla_bond_pct: 10 } });
  worker = new ScriptedWorker(tm.url);
  await worker.join({ slots: 1, price: '0.01' });
});
afterAll(async () => {
  worker?.close();
  await tm?.close();
});

const synthetic = (deadline?: number) => ({
  challenge_type: 'synthetic' as const,
  payload: { seed: 'ab', matrix_size: 2, iterations: 1 },
  reward: '1.0',
  ...(deadline ? { deadline } : {}),
});

async function balance(accountId: string): Promise<string> {
  const [row] = await tm.market.db.query<{ amount: string }>(
    `SELECT amount::text FROM balances WHERE account_id = $1 AND asset = 'CPC'`,
    [accountId],
  );
  return row?.amount ?? '0';
}

async function metric(line: string): Promise<number | undefined> {
  const text = await (await fetch(`${tm.url}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(line + ' '));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

const BOND = (10n ** 15n).toString(); // 10% of 0.01 CPC × 1 unit

describe('SLA bonds', () => {
  it('holds industrial work back from a provider that cannot post the bond', async () => {
    const { client } = await tm.customer('10.0');
    const task = await client.createTask(synthetic());
    await tm.market.dispatcher.tick();
    // Deferred on the tick that tried to bond it; then no usable slot while the provider is paused.
    expect(['deferred', 'no_capacity']).toContain((await client.getTask(task.task_id)).waiting_reason);
    expect(worker.take('job')).toBeUndefined();

    const funded = await tm.operator.request<{ account_id: string; balance: string }>(
      'POST',
      `/providers/${worker.key.address}/fund`,
      { amount: '1.0' },
    );
    expect(funded.balance).toBe('1.0');
    providerAccount = funded.account_id;
    // A provider that could not post a bond is passed over for industrial work for 5 s.
    clock.advance(5000);
    await expect(
      tm.operator.request('POST', '/providers/not-an-address/fund', { amount: '1.0' }),
    ).rejects.toMatchObject({ status: 400 });
    await tm.market.dispatcher.tick();
    const job = await worker.next<JobMsg>('job');
    expect(job.task_id).toBe(task.task_id);
    expect(await balance(SYSTEM_ACCOUNTS.bonds)).toBe(BOND);
    expect(await balance(providerAccount)).toBe((10n ** 18n - 10n ** 15n).toString());
    expect((await verifyLedger(tm.market.db)).violations).toEqual([]);

    worker.send(worker.result(job));
    await worker.next('result_accepted');
    expect(await balance(SYSTEM_ACCOUNTS.bonds)).toBe('0');
    expect(await balance(providerAccount)).toBe((10n ** 18n).toString());
    expect((await verifyLedger(tm.market.db)).violations).toEqual([]);
  });

  it('returns the bond when the client cancels', async () => {
    const { client } = await tm.customer('10.0');
    const task = await client.createTask(synthetic());
    await tm.market.dispatcher.tick();
    await worker.next<JobMsg>('job');
    expect(await balance(SYSTEM_ACCOUNTS.bonds)).toBe(BOND);
    await client.cancelTask(task.task_id);
    await worker.next('cancel');
    expect(await balance(SYSTEM_ACCOUNTS.bonds)).toBe('0');
    expect(await balance(providerAccount)).toBe((10n ** 18n).toString());
    expect((await verifyLedger(tm.market.db)).violations).toEqual([]);
  });

  it('returns the bond when the job fails for an invalid payload', async () => {
    const { client } = await tm.customer('10.0');
    const task = await client.createTask(synthetic());
    await tm.market.dispatcher.tick();
    const job = await worker.next<JobMsg>('job');
    expect(await balance(SYSTEM_ACCOUNTS.bonds)).toBe(BOND);
    worker.send({ type: 'job_failed', job_id: job.job_id, reason: 'invalid_payload', message: 'bad seed' });
    const before = tm.market.dispatcher.reputationOf(worker.key.address);
    await expect.poll(async () => (await client.getTask(task.task_id)).status).toBe('failed');
    // The customer's payload was at fault, not the provider.
    expect(tm.market.dispatcher.reputationOf(worker.key.address)).toBe(before);
    expect(await balance(SYSTEM_ACCOUNTS.bonds)).toBe('0');
    expect(await balance(providerAccount)).toBe((10n ** 18n).toString());
    expect((await verifyLedger(tm.market.db)).violations).toEqual([]);
  });

  it('slashes the bond to the treasury when the deadline passes while the job runs', async () => {
    const { client } = await tm.customer('10.0');
    const treasury = BigInt(await balance(SYSTEM_ACCOUNTS.treasury));
    const before = tm.market.dispatcher.reputationOf(worker.key.address);
    // A deadline less than a lease away is not bonded; this one leaves the provider time.
    const task = await client.createTask(synthetic(Math.floor(clock.nowMs() / 1000) + 120));
    await tm.market.dispatcher.tick();
    await worker.next<JobMsg>('job');
    expect(await balance(SYSTEM_ACCOUNTS.bonds)).toBe(BOND);
    clock.advance(121_000);
    await tm.market.sweepDeadlines();
    expect(await client.getTask(task.task_id)).toMatchObject({
      status: 'failed',
      failure_reason: 'deadline_exceeded',
    });
    await worker.next('cancel');
    expect(await balance(SYSTEM_ACCOUNTS.bonds)).toBe('0');
    expect(BigInt(await balance(SYSTEM_ACCOUNTS.treasury)) - treasury).toBe(10n ** 15n);
    expect(await balance(providerAccount)).toBe((10n ** 18n - 10n ** 15n).toString());
    expect(await client.me()).toMatchObject({ balance: '10.0', escrow: '0.0' });
    expect(await metric('industrial_rejected_total{reason="SLA"}')).toBe(1);
    await expect.poll(() => tm.market.dispatcher.reputationOf(worker.key.address)).toBeLessThan(before);
    expect((await verifyLedger(tm.market.db)).violations).toEqual([]);
  });

  it('slashes the bond when the provider cancels; the job goes back to the queue and the customer pays nothing for it', async () => {
    // A fresh provider: the first one's reputation is spent by the deadline above.
    const other = new ScriptedWorker(tm.url);
    await other.join({ slots: 1, price: '0.01' });
    try {
      const funded = await tm.operator.request<{ account_id: string }>(
        'POST',
        `/providers/${other.key.address}/fund`,
        { amount: '1.0' },
      );
      const { client } = await tm.customer('10.0');
      const treasury = BigInt(await balance(SYSTEM_ACCOUNTS.treasury));
      const slashes = (await metric('industrial_rejected_total{reason="SLA"}')) ?? 0;
      const task = await client.createTask(synthetic());
      await tm.market.dispatcher.tick();
      const job = await other.next<JobMsg>('job');
      expect(await balance(SYSTEM_ACCOUNTS.bonds)).toBe(BOND);
      await tm.operator.request('POST', '/rpc', {
        method: 'compute.job_cancel',
        params: { job_id: job.job_id, reason: 'provider' },
      });
      await other.next('cancel');
      expect(await balance(SYSTEM_ACCOUNTS.bonds)).toBe('0');
      expect(BigInt(await balance(SYSTEM_ACCOUNTS.treasury)) - treasury).toBe(10n ** 15n);
      expect(await balance(funded.account_id)).toBe((10n ** 18n - 10n ** 15n).toString());
      expect(await metric('industrial_rejected_total{reason="SLA"}')).toBe(slashes + 1);
      // The work waits for another provider; the customer's reward stays in escrow, uncharged.
      expect((await client.getTask(task.task_id)).status).not.toMatch(/completed|failed|cancelled/);
      expect(await client.me()).toMatchObject({ balance: '9.0', escrow: '1.0' });
      await client.cancelTask(task.task_id);
      expect(await client.me()).toMatchObject({ balance: '10.0', escrow: '0.0' });
      expect((await verifyLedger(tm.market.db)).violations).toEqual([]);
    } finally {
      other.close();
    }
  });
});
