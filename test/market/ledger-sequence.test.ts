// Property: whatever sequence of funding, task creation, cancellation, completion by a real
// WebSocket worker and settlement-mode switches happens, the ledger stays balanced (conservation,
// journals summing to zero, escrow equal to the open tasks' holds), every customer ends with
// what it was funded minus exactly what it was charged, and nobody is charged twice.

import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { formatAmount, parseAmount } from '../../src/domain/money.js';
import type { JobMsg } from '../../src/domain/schemas/worker.js';
import { verifyLedger } from '../../src/market/ledger.js';
import { startTestMarket, type TestMarket } from '../helpers/market.js';
import { ScriptedWorker } from '../helpers/ws-worker.js';

let tm: TestMarket;
let worker: ScriptedWorker;
beforeAll(async () => {
  tm = await startTestMarket({ config: { lease_ms: 60_000 } });
  worker = new ScriptedWorker(tm.url);
  // 0.001 CPC per unit; each synthetic task below is one unit.
  await worker.join({ slots: 3, price: '0.001' });
});
afterAll(async () => {
  worker?.close();
  await tm?.close();
});

const base = (s: string) => {
  const p = parseAmount(s);
  if (!p.ok) throw new Error(s);
  return p.value;
};

const op = fc.oneof(
  fc.record({ kind: fc.constant('fund' as const), amount: fc.constantFrom('0.01', '0.5', '2') }),
  fc.record({ kind: fc.constant('create' as const), reward: fc.constantFrom('0.001', '0.05', '0.3', '3') }),
  fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('complete' as const) }),
  fc.record({ kind: fc.constant('mode' as const), real: fc.boolean() }),
);

it('keeps the ledger balanced and charges each completed task once, whatever the order', async () => {
  let run = 0;
  let charges = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 14 }), async (ops) => {
      const { client } = await tm.customer('1.0', `seq-${++run}`);
      let funded = base('1.0');
      const tasks: string[] = [];
      for (const o of ops) {
        if (o.kind === 'fund') {
          const me = await client.me();
          await tm.operator.fundAccount(me.account_id, o.amount);
          funded += base(o.amount);
        } else if (o.kind === 'create') {
          const created = await client
            .createTask({
              challenge_type: 'synthetic',
              payload: { seed: 'ab', matrix_size: 2, iterations: 1 },
              reward: o.reward,
            })
            .catch((err: { code?: string }) => {
              expect(err.code).toBe('insufficient_funds');
              return undefined;
            });
          if (created) tasks.push(created.task_id);
        } else if (o.kind === 'cancel' && tasks.length > 0) {
          await client.cancelTask(tasks[o.pick % tasks.length] as string).catch((err: { code?: string }) => {
            expect(err.code).toBe('already_done');
          });
        } else if (o.kind === 'complete') {
          const job = worker.take<JobMsg>('job');
          if (job) worker.send(worker.result(job));
        } else if (o.kind === 'mode') {
          await tm.operator.request('POST', '/rpc', {
            method: 'settlement.set_mode',
            params: o.real ? { mode: 'Armed', delay_ms: 0 } : { mode: 'DryRun' },
          });
        }
      }
      // Let every result in flight commit, then settle what is left open by cancelling it.
      await tm.market.tasks.flushed();
      await new Promise((r) => setTimeout(r, 50));
      for (const id of tasks) await client.cancelTask(id).catch(() => undefined);
      for (let job = worker.take<JobMsg>('job'); job; job = worker.take<JobMsg>('job')) {
        /* cancelled jobs: their messages are stale */
      }

      const report = await verifyLedger(tm.market.db);
      expect(report.violations).toEqual([]);
      const [charged] = await tm.market.db.query<{ amount: string }>(
        `SELECT coalesce(sum(r.amount), 0)::text AS amount FROM receipts r JOIN tasks t USING (task_id)
         JOIN accounts a ON a.account_id = t.account_id WHERE a.name = $1 AND r.applied`,
        [`seq-${run}`],
      );
      if (BigInt(charged?.amount ?? '0') > 0n) charges++;
      const me = await client.me();
      expect(me.escrow).toBe('0.0');
      expect(me.balance).toBe(formatAmount(funded - BigInt(charged?.amount ?? '0')));
      const twice = await tm.market.db.query(
        `SELECT job_id FROM receipts GROUP BY job_id HAVING count(*) > 1`,
      );
      expect(twice).toEqual([]);
    }),
    // Seeded, so the runs are the same each time and some of them settle in Real mode.
    { numRuns: 12, seed: 20261202 },
  );
  expect(charges).toBeGreaterThan(0);
}, 120_000);
