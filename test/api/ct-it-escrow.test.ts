// Mixed CT/IT escrow through the running node (spec/compute-market.md "Mixed CT/IT Escrow"): a
// task's fee_pct_ct splits its reward between CPC (the consumer token) and IT at creation, only
// offers of the same mix take it, settlement pays every party in that mix, and whatever is not
// charged goes back asset by asset.

import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { AccountView } from '../../src/domain/schemas/accounts.js';
import type { JobMsg } from '../../src/domain/schemas/worker.js';
import { verifyLedger } from '../../src/market/ledger.js';
import { apiError, startTestMarket, type TestMarket } from '../helpers/market.js';
import { WorkerPool } from '../helpers/ws-worker.js';

let tm: TestMarket;
const pool = new WorkerPool(() => ({ url: tm.url, connected: () => tm.market.dispatcher.connected }));
beforeAll(async () => {
  tm = await startTestMarket();
});
afterAll(async () => {
  await tm?.close();
});
afterEach(() => pool.closeAll());

const GPUHASH = { input: Buffer.from('x'.repeat(100)).toString('base64') };

/** A customer with 100 CPC and `it` IT. */
async function customer(it: string) {
  const made = await tm.customer('100.0');
  await tm.operator.fundAccount(made.accountId, it, 'IT');
  return made;
}

function holding(view: AccountView, asset: string) {
  return view.balances.find((b) => b.asset === asset);
}

it('holds 5 CT and 15 IT of a 20 reward at fee_pct_ct 25, and shows both on the account and the task', async () => {
  const { client } = await customer('100.0');
  const task = await client.createTask({
    challenge_type: 'gpuhash',
    payload: GPUHASH,
    reward: '20.0',
    fee_pct_ct: 25,
  });
  const me = await client.me();
  expect(holding(me, 'CPC')).toMatchObject({ balance: '95.0', escrow: '5.0' });
  expect(holding(me, 'IT')).toMatchObject({ balance: '85.0', escrow: '15.0' });
  // The top-level fields stay the consumer token's, as before IT existed.
  expect(me).toMatchObject({ asset: 'CPC', balance: '95.0', escrow: '5.0' });
  expect(await client.getTask(task.task_id)).toMatchObject({
    fee_pct_ct: 25,
    escrow: { ct: '5.0', it: '15.0' },
  });
  expect((await verifyLedger(tm.market.db)).violations).toEqual([]);
});

it('refuses a task whose IT part the buyer cannot cover, says so, and holds nothing', async () => {
  const { client } = await customer('10.0');
  const err = await apiError(
    client.createTask({ challenge_type: 'gpuhash', payload: GPUHASH, reward: '20.0', fee_pct_ct: 25 }),
  );
  expect(err).toMatchObject({
    status: 402,
    code: 'insufficient_funds',
    details: { asset: 'IT', needed: '15.0', available: '10.0' },
  });
  expect(err.message).toContain('15.0 IT');
  const me = await client.me();
  expect(holding(me, 'CPC')).toMatchObject({ balance: '100.0', escrow: '0.0' });
  expect(holding(me, 'IT')).toMatchObject({ balance: '10.0', escrow: '0.0' });
  // fee_pct_ct is a whole percentage from 0 to 100.
  const bad = await apiError(
    client.createTask({ challenge_type: 'gpuhash', payload: GPUHASH, reward: '20.0', fee_pct_ct: 101 }),
  );
  expect(bad).toMatchObject({ status: 400, code: 'validation_error' });
});

it('refunds a cancelled mixed task in its original percentages', async () => {
  const { client } = await customer('100.0');
  const task = await client.createTask({
    challenge_type: 'gpuhash',
    payload: GPUHASH,
    reward: '0.000000000000000003',
    fee_pct_ct: 50,
  });
  // 3 base units at 50%: 1 CT (the floor) and 2 IT; the refund gives back exactly those.
  expect(await client.getTask(task.task_id)).toMatchObject({
    escrow: { ct: '0.000000000000000001', it: '0.000000000000000002' },
  });
  expect(await client.cancelTask(task.task_id)).toMatchObject({
    refund: { ct: '0.000000000000000001', it: '0.000000000000000002' },
  });
  const me = await client.me();
  expect(holding(me, 'CPC')).toMatchObject({ balance: '100.0', escrow: '0.0' });
  expect(holding(me, 'IT')).toMatchObject({ balance: '100.0', escrow: '0.0' });
  expect((await verifyLedger(tm.market.db)).violations).toEqual([]);
});

it('runs a mixed task only on an offer of its mix, however cheap the others', async () => {
  const { client } = await customer('100.0');
  const cheap = pool.make();
  await cheap.join({ price: '1.0' });
  const task = await client.createTask({
    challenge_type: 'gpuhash',
    payload: GPUHASH,
    reward: '20.0',
    fee_pct_ct: 25,
  });
  await expect.poll(async () => (await client.getTask(task.task_id)).waiting_reason).toBe('payment_mismatch');
  expect(cheap.take<JobMsg>('job')).toBeUndefined();
  const mixed = pool.make();
  await mixed.join({ price: '8.0', feePctCt: 25 });
  const job = await mixed.next<JobMsg>('job', (m) => m.task_id === task.task_id);
  mixed.send(mixed.result(job));
  await mixed.next('result_accepted');
  await expect.poll(async () => (await client.getTask(task.task_id)).status).toBe('completed');
});

it('in Real pays every party in the escrow mix and refunds the rest per asset; only CPC goes out on chain', async () => {
  await tm.operator.request('POST', '/rpc', {
    method: 'settlement.set_mode',
    params: { mode: 'Armed', delay_ms: 0 },
  });
  try {
    const { client } = await customer('100.0');
    const w = pool.make();
    await w.join({ price: '8.0', feePctCt: 25 });
    const task = await client.createTask({
      challenge_type: 'gpuhash',
      payload: GPUHASH,
      reward: '20.0',
      fee_pct_ct: 25,
    });
    const job = await w.next<JobMsg>('job', (m) => m.task_id === task.task_id);
    w.send(w.result(job));
    await w.next('result_accepted');
    // Charged 8: 2 CPC and 6 IT; each split 60/25/10/5. Held 5 CPC and 15 IT: 3 and 9 come back.
    const me = await client.me();
    expect(holding(me, 'CPC')).toMatchObject({ balance: '98.0', escrow: '0.0' });
    expect(holding(me, 'IT')).toMatchObject({ balance: '94.0', escrow: '0.0' });
    const provider = await tm.market.db.query<{ asset: string; amount: string }>(
      `SELECT b.asset, b.amount::text AS amount FROM balances b JOIN accounts a USING (account_id)
       WHERE a.address = $1 ORDER BY b.asset`,
      [w.key.address],
    );
    expect(provider).toEqual([
      { asset: 'CPC', amount: (5n * 10n ** 17n).toString() },
      { asset: 'IT', amount: (15n * 10n ** 17n).toString() },
    ]);
    const journal = await tm.market.db.query<{ name: string; asset: string; amount: string }>(
      `SELECT coalesce(a.address, a.name) AS name, e.asset, e.amount::text AS amount
       FROM ledger_entries e JOIN accounts a USING (account_id)
       WHERE e.journal_id = (SELECT journal_id FROM receipts WHERE task_id = $1)
         AND a.kind = 'system' AND a.name <> 'escrow'
       ORDER BY e.asset, a.name`,
      [task.task_id],
    );
    const units = (n: number) => (BigInt(n) * 10n ** 17n).toString();
    expect(journal).toEqual([
      { name: 'burn', asset: 'CPC', amount: units(12) },
      { name: 'treasury', asset: 'CPC', amount: units(1) },
      { name: 'validators', asset: 'CPC', amount: units(2) },
      { name: 'burn', asset: 'IT', amount: units(36) },
      { name: 'treasury', asset: 'IT', amount: units(3) },
      { name: 'validators', asset: 'IT', amount: units(6) },
    ]);
    const payouts = await tm.market.db.query<{ asset: string; amount: string }>(
      `SELECT asset, amount::text AS amount FROM payouts WHERE task_id = $1`,
      [task.task_id],
    );
    expect(payouts).toEqual([{ asset: 'CPC', amount: units(5) }]);
    const status = await tm.operator.request<{ assets: Record<string, Record<string, string>> }>(
      'POST',
      '/rpc',
      { method: 'settlement_status' },
    );
    expect(Object.keys(status.assets)).toEqual(['CPC', 'IT']);
    expect((await verifyLedger(tm.market.db)).violations).toEqual([]);
  } finally {
    await tm.operator.request('POST', '/rpc', { method: 'settlement.set_mode', params: { mode: 'DryRun' } });
  }
});
