// Settlement through the running node: receipts on completion, DryRun refunds everything,
// Real charges quote_price × units split 60/25/10/5 and refunds the rest, exactly once.

import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { JobMsg } from '../../src/domain/schemas/worker.js';
import { verifyLedger } from '../../src/market/ledger.js';
import { startTestMarket, type TestMarket } from '../helpers/market.js';
import { WorkerPool } from '../helpers/ws-worker.js';

let tm: TestMarket;
const pool = new WorkerPool(() => ({ url: tm.url, connected: () => tm.market.dispatcher.connected }));
beforeAll(async () => {
  tm = await startTestMarket();
});
afterAll(async () => {
  await tm?.close();
});
// Each test starts with no worker connected, so jobs go only to the workers it made.
afterEach(() => pool.closeAll());

async function runOne(price: string, reward: string, beforeResult?: (job: JobMsg) => Promise<unknown>) {
  const { client, accountId } = await tm.customer('100.0');
  const w = pool.make();
  await w.join({ price });
  const task = await client.createTask({
    challenge_type: 'gpuhash',
    payload: { input: Buffer.from('x'.repeat(100)).toString('base64') },
    reward,
  });
  const job = await w.next<JobMsg>('job', (m) => m.task_id === task.task_id);
  await beforeResult?.(job);
  const result = w.result(job);
  w.send(result);
  await w.next('result_accepted');
  w.send(result);
  await w.next('error');
  return { client, accountId, w, task };
}

async function status(): Promise<{ mode: string; balances: Record<string, string> }> {
  return tm.operator.request('POST', '/rpc', { method: 'settlement_status' });
}

it('in DryRun records a receipt and refunds the whole escrow', async () => {
  expect((await status()).mode).toBe('DryRun');
  const { client, task } = await runOne('10.0', '40.0');
  expect(await client.me()).toMatchObject({ balance: '100.0', escrow: '0.0' });
  const receipts = await tm.market.db.query<{ mode: string; applied: boolean; amount: string }>(
    'SELECT mode, applied, amount::text AS amount FROM receipts WHERE task_id = $1',
    [task.task_id],
  );
  expect(receipts).toEqual([{ mode: 'DryRun', applied: false, amount: (10n * 10n ** 18n).toString() }]);
  expect((await verifyLedger(tm.market.db)).violations).toEqual([]);
});

it('in Real charges price × units, splits it 60/25/10/5, refunds the rest, once', async () => {
  const before = (await status()).balances;
  await tm.operator.request('POST', '/rpc', {
    method: 'settlement.set_mode',
    params: { mode: 'Armed', delay_ms: 0 },
  });
  expect((await status()).mode).toBe('Real');
  const { client, w } = await runOne('10.0', '40.0');
  expect(await client.me()).toMatchObject({ balance: '90.0', escrow: '0.0' });
  const after = (await status()).balances;
  const delta = (k: string) => Number(after[k] ?? '0') - Number(before[k] ?? '0');
  expect(delta('burn')).toBe(6);
  expect(delta('providers')).toBe(2.5);
  expect(delta('validators')).toBe(1);
  expect(delta('treasury')).toBe(0.5);
  const [provider] = await tm.market.db.query<{ amount: string }>(
    `SELECT b.amount::text AS amount FROM balances b JOIN accounts a USING (account_id)
     WHERE a.address = $1 AND b.asset = 'CPC'`,
    [w.key.address],
  );
  expect(provider?.amount).toBe((25n * 10n ** 17n).toString());
  expect((await verifyLedger(tm.market.db)).violations).toEqual([]);
  const metrics = await (await fetch(`${tm.url}/metrics`)).text();
  expect(metrics).toMatch(/settle_applied_total 1/);
  expect(metrics).toMatch(/settle_mode_change_total\{to="Real"\} 1/);
});

it('falls back to DryRun when receipts exceed the escrow, and archives the failure', async () => {
  // The matcher never leases above the reward, so corrupt the quoted price behind its back.
  const { client, task } = await runOne('0.5', '1.0', (job) =>
    tm.market.db.query(`UPDATE jobs SET quote_price = 5000000000000000000 WHERE job_id = $1`, [job.job_id]),
  );
  expect(await client.me()).toMatchObject({ balance: '100.0', escrow: '0.0' });
  expect((await status()).mode).toBe('DryRun');
  const failures = await tm.market.db.query('SELECT reason FROM settlement_failures WHERE task_id = $1', [
    task.task_id,
  ]);
  expect(failures).toEqual([{ reason: 'insufficient_escrow' }]);
  expect((await verifyLedger(tm.market.db)).violations).toEqual([]);
});

it('splits by the configured shares (split_*_bps) when the operator sets other ones', async () => {
  const other = await startTestMarket({
    config: {
      split_burn_bps: 5000,
      split_worker_bps: 3500,
      split_validators_bps: 1000,
      split_treasury_bps: 500,
    },
  });
  const workers = new WorkerPool(() => ({
    url: other.url,
    connected: () => other.market.dispatcher.connected,
  }));
  try {
    await other.operator.request('POST', '/rpc', {
      method: 'settlement.set_mode',
      params: { mode: 'Armed', delay_ms: 0 },
    });
    const { client } = await other.customer('100.0');
    const w = workers.make();
    await w.join({ price: '10.0' });
    const task = await client.createTask({
      challenge_type: 'gpuhash',
      payload: { input: Buffer.from('x'.repeat(100)).toString('base64') },
      reward: '40.0',
    });
    const job = await w.next<JobMsg>('job', (m) => m.task_id === task.task_id);
    w.send(w.result(job));
    await w.next('result_accepted');
    const balances = (
      await other.operator.request<{ balances: Record<string, string> }>('POST', '/rpc', {
        method: 'settlement_status',
      })
    ).balances;
    expect(balances).toMatchObject({ burn: '5.0', providers: '3.5', validators: '1.0', treasury: '0.5' });
    expect((await verifyLedger(other.market.db)).violations).toEqual([]);
  } finally {
    await workers.closeAll();
    await other.close();
  }
});
