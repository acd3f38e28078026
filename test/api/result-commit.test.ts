// The result commit's common case is one statement (commit_results, migration 0090). A batch the
// database declines is committed the long way, statement by statement: both ways must leave the
// same books, receipts, payouts, chain drafts, counters and reputation behind.

import { afterEach, expect, it } from 'vitest';
import type { JobMsg } from '../../src/domain/schemas/worker.js';
import { verifyLedger } from '../../src/market/ledger.js';
import type { Db } from '../../src/store/db.js';
import { providerAccounts } from '../../src/store/settlement.js';
import { testDb } from '../helpers/db.js';
import { startTestMarket, type TestMarket } from '../helpers/market.js';
import { WorkerPool } from '../helpers/ws-worker.js';

let tm: TestMarket | undefined;
const pool = new WorkerPool(() => ({
  url: (tm as TestMarket).url,
  connected: () => (tm as TestMarket).market.dispatcher.connected,
}));
afterEach(async () => {
  await pool.closeAll();
  await tm?.close();
  tm = undefined;
});

/** The database, with its commit_results calls counted, and declined when `decline` is set. */
async function watched(decline: boolean): Promise<{ db: Db; calls: { oneStatement: number } }> {
  const db = await testDb();
  const calls = { oneStatement: 0 };
  const wrapped = Object.create(db) as Db & { query: Db['query'] };
  wrapped.query = (async (sql: string, params?: readonly unknown[]) => {
    if (sql.includes('commit_results(')) {
      calls.oneStatement++;
      if (decline) throw new Error('commit_fast_path_declined: declined by the test');
    }
    return db.query(sql, params);
  }) as Db['query'];
  return { db: wrapped, calls };
}

/** Runs tasks of odd prices through two workers in Real mode; what the store holds after. */
async function run(decline: boolean) {
  const { db, calls } = await watched(decline);
  tm = await startTestMarket({ db });
  const market = tm;
  await market.operator.request('POST', '/rpc', {
    method: 'settlement.set_mode',
    params: { mode: 'Armed', delay_ms: 0 },
  });
  const { client } = await market.customer('100.0');
  for (const price of ['0.333333333333333333', '1.000000000000000007']) {
    const w = pool.make();
    await w.join({ price });
    const task = await client.createTask({
      challenge_type: 'gpuhash',
      payload: { input: Buffer.from('y'.repeat(64)).toString('base64') },
      reward: '3.0',
    });
    const job = await w.next<JobMsg>('job', (m) => m.task_id === task.task_id);
    w.send(w.result(job));
    await w.next('result_accepted');
    w.close();
  }
  const rows = (sql: string) => market.market.db.query(sql);
  const me = await client.me();
  const snapshot = {
    me: { balance: me.balance, escrow: me.escrow },
    system: await rows(
      `SELECT a.name, b.asset, b.amount::text FROM balances b JOIN accounts a USING (account_id)
       WHERE a.kind = 'system' ORDER BY 1, 2`,
    ),
    providers: await rows(
      `SELECT b.asset, b.amount::text FROM balances b JOIN accounts a USING (account_id)
       WHERE a.kind = 'provider' ORDER BY 1, 2`,
    ),
    entries: await rows(
      `SELECT a.kind, e.asset, e.amount::text FROM ledger_entries e JOIN accounts a USING (account_id)
       WHERE e.kind = 'settlement' ORDER BY 1, 2, 3`,
    ),
    receipts: await rows(`SELECT mode, applied, amount::text FROM receipts ORDER BY amount`),
    payouts: await rows(`SELECT asset, amount::text FROM payouts ORDER BY amount`),
    outbox: await rows(`SELECT kind, draft->>'type' AS type FROM outbox ORDER BY id`),
    tasks: await rows(
      `SELECT status, verified, jobs_done, escrow_held::text, result_hash IS NOT NULL AS has_result
       FROM tasks ORDER BY reward`,
    ),
    counters: await rows(
      `SELECT jobs_completed, jobs_failed, verified_jobs FROM providers ORDER BY jobs_completed`,
    ),
    reputation: await rows(`SELECT score, epoch FROM provider_reputation ORDER BY score`),
  };
  expect((await verifyLedger(market.market.db)).violations).toEqual([]);
  const metrics = await (await fetch(`${market.url}/metrics`)).text();
  expect(metrics).toContain(`result_commits_total{path="${decline ? 'long' : 'one_statement'}"} 2`);
  return { snapshot, calls };
}

it('commits accepted results in one statement, and the long way leaves the same store', async () => {
  const fast = await run(false);
  expect(fast.calls.oneStatement).toBe(2);
  await tm?.close();
  tm = undefined;
  const long = await run(true);
  expect(long.calls.oneStatement).toBe(2);
  expect(fast.snapshot.receipts).toHaveLength(2);
  expect(fast.snapshot.payouts).toHaveLength(2);
  expect(fast.snapshot.me).toMatchObject({ escrow: '0.0' });
  expect(fast.snapshot).toEqual(long.snapshot);
}, 120_000);

it('settles a provider whose account the node has not seen, after a declined plan that settled nothing', async () => {
  tm = await startTestMarket();
  const market = tm;
  await market.operator.request('POST', '/rpc', {
    method: 'settlement.set_mode',
    params: { mode: 'Armed', delay_ms: 0 },
  });
  const { client } = await market.customer('10.0');
  const w = pool.make();
  // The provider has an account already (another node made it), which this node does not know.
  await providerAccounts(market.market.db, [w.key.address], 'CPC', 0);
  await w.join({ price: '1.0' });
  const task = (n: number) =>
    client.createTask({
      challenge_type: 'gpuhash',
      payload: { input: Buffer.from(`z${n}`).toString('base64') },
      reward: '2.0',
    });
  const first = await task(1);
  const job = await w.next<JobMsg>('job', (m) => m.task_id === first.task_id);
  // Its lease runs out before the result: the plan is declined and the long way completes nothing.
  await market.market.db.query(`UPDATE jobs SET lease_expires_at_ms = 0 WHERE job_id = $1`, [job.job_id]);
  w.send(w.result(job));
  expect(await w.next('error')).toMatchObject({ code: 'lease_expired' });
  // The next result settles and pays the account the provider has.
  const second = await task(2);
  const next = await w.next<JobMsg>('job', (m) => m.task_id === second.task_id);
  w.send(w.result(next));
  await w.next('result_accepted');
  const [paid] = await market.market.db.query<{ amount: string }>(
    `SELECT b.amount::text AS amount FROM balances b JOIN accounts a USING (account_id)
     WHERE a.address = $1 AND b.asset = 'CPC'`,
    [w.key.address],
  );
  expect(paid?.amount).toBe((25n * 10n ** 16n).toString());
  expect((await verifyLedger(market.market.db)).violations).toEqual([]);
}, 120_000);
