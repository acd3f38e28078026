// Receipt store faults through a running node: a receipt write that fails rolls the result back
// and is counted (receipt_persist_fail_total), and the worker's retry settles it exactly once; a
// receipt damaged in the database is counted at the next start (receipt_corrupt_total) and the
// node runs on.

import { expect, it } from 'vitest';
import type { JobMsg } from '../../src/domain/schemas/worker.js';
import { verifyLedger } from '../../src/market/ledger.js';
import type { Db } from '../../src/store/db.js';
import { testDb } from '../helpers/db.js';
import { perTestMarkets, startTestMarket, type TestMarket } from '../helpers/market.js';
import type { ScriptedWorker } from '../helpers/ws-worker.js';

const { pool, track, closeAll } = perTestMarkets();

async function start(opts: Parameters<typeof startTestMarket>[0] = {}): Promise<TestMarket> {
  return track(await startTestMarket(opts));
}

/** The database without its close: a market closed on it leaves it open for the next start. */
function kept(db: Db): Db {
  return { ...db, close: async () => {} };
}

async function metric(tm: TestMarket, name: string): Promise<number> {
  const text = await (await fetch(`${tm.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1]);
}

async function taskWithJob(tm: TestMarket, w: ScriptedWorker, reward = '40.0') {
  const { client } = await tm.customer('100.0');
  const task = await client.createTask({
    challenge_type: 'gpuhash',
    payload: { input: Buffer.from('x'.repeat(100)).toString('base64') },
    reward,
  });
  const job = await w.next<JobMsg>('job', (m) => m.task_id === task.task_id);
  return { client, task, job };
}

it('a failed receipt write rolls the result back; the retry settles it exactly once', async () => {
  const tm = await start();
  await tm.operator.request('POST', '/rpc', {
    method: 'settlement.set_mode',
    params: { mode: 'Armed', delay_ms: 0 },
  });
  const w = pool.make();
  await w.join({ price: '10.0' });
  const { client, task, job } = await taskWithJob(tm, w);
  await tm.market.db.query(
    `CREATE FUNCTION fail_receipt_insert() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN RAISE EXCEPTION 'injected receipt write failure'; END $$`,
  );
  await tm.market.db.query(
    `CREATE TRIGGER fail_receipt_insert BEFORE INSERT ON receipts FOR EACH ROW EXECUTE FUNCTION fail_receipt_insert()`,
  );
  const result = w.result(job);
  w.send(result);
  expect(await w.next('error')).toMatchObject({ code: 'internal' });
  expect(await metric(tm, 'receipt_persist_fail_total')).toBe(1);
  // Nothing of the commit stayed: the job is still leased to the worker, the task open, no receipt.
  const [jobRow] = await tm.market.db.query('SELECT status FROM jobs WHERE job_id = $1', [job.job_id]);
  expect(jobRow).toEqual({ status: 'leased' });
  expect(await client.getTask(task.task_id)).toMatchObject({ status: 'in_progress' });
  expect(await tm.market.db.query('SELECT 1 FROM receipts WHERE task_id = $1', [task.task_id])).toEqual([]);
  expect(await client.me()).toMatchObject({ balance: '60.0', escrow: '40.0' });

  await tm.market.db.query('DROP TRIGGER fail_receipt_insert ON receipts');
  await tm.market.db.query('DROP FUNCTION fail_receipt_insert()');
  w.send(result);
  await w.next('result_accepted');
  w.send(result);
  expect(await w.next('error')).toMatchObject({ code: 'duplicate_result' });
  const receipts = await tm.market.db.query<{ mode: string; applied: boolean }>(
    'SELECT mode, applied FROM receipts WHERE task_id = $1',
    [task.task_id],
  );
  expect(receipts).toEqual([{ mode: 'Real', applied: true }]);
  expect(await client.me()).toMatchObject({ balance: '90.0', escrow: '0.0' });
  expect(await metric(tm, 'settle_applied_total')).toBe(1);
  expect(await metric(tm, 'receipt_persist_fail_total')).toBe(1);
  expect((await verifyLedger(tm.market.db)).violations).toEqual([]);
});

it('counts a receipt damaged in the database at the next start, and the node works on', async () => {
  const db = await testDb();
  try {
    const first = await start({ db: kept(db) });
    expect(await metric(first, 'receipt_corrupt_total')).toBe(0);
    let w = pool.make();
    await w.join({ price: '1.0' });
    for (let i = 0; i < 2; i++) {
      const { job } = await taskWithJob(first, w);
      w.send(w.result(job));
      await w.next('result_accepted');
    }
    await closeAll();
    const [victim] = await db.query<{ idempotency_key: string }>(
      'SELECT idempotency_key FROM receipts ORDER BY idempotency_key LIMIT 1',
    );
    // One more unit than the receipt was issued for: the body decodes, the key no longer matches.
    await db.query(
      `UPDATE receipts SET body = jsonb_set(body::jsonb, '{units}', to_jsonb((body::jsonb->>'units')::int + 1))::text
       WHERE idempotency_key = $1`,
      [victim?.idempotency_key],
    );

    const second = await start({ db: kept(db) });
    expect(await metric(second, 'receipt_corrupt_total')).toBe(1);
    expect(second.market.settlement.receiptCheck).toMatchObject({
      checked: 2,
      corrupt: 1,
      complete: true,
      damaged: [{ key: victim?.idempotency_key }],
    });
    w = pool.make();
    await w.join({ price: '1.0' });
    const { client, task, job } = await taskWithJob(second, w);
    w.send(w.result(job));
    await w.next('result_accepted');
    expect(await client.getTask(task.task_id)).toMatchObject({ status: 'completed' });
    expect(await db.query('SELECT 1 FROM receipts')).toHaveLength(3);
    await closeAll();

    // With the check off the start reads no receipts and counts nothing.
    const third = await start({ db: kept(db), config: { receipt_check_on_start: false } });
    expect(third.market.settlement.receiptCheck).toBeUndefined();
    expect(await metric(third, 'receipt_corrupt_total')).toBe(0);
  } finally {
    await closeAll();
    await db.close();
  }
});
