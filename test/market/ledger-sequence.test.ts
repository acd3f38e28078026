// Property: whatever sequence of funding (CPC and IT), task creation (all CPC or a CT/IT mix),
// cancellation, completion or failure by real WebSocket workers, SLA slashes (a provider cancel
// of a bonded job) and settlement-mode switches happens, the ledger stays balanced (conservation
// per asset, journals summing to zero, escrow equal to the open tasks' holds, bonds equal to the
// running jobs' bonds), every customer ends with what it was funded minus exactly what it was
// charged, in each asset, and nobody is charged twice.

import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { splitEscrow } from '../../src/domain/escrow-split.js';
import { formatAmount, parseAmount } from '../../src/domain/money.js';
import type { JobMsg } from '../../src/domain/schemas/worker.js';
import { verifyLedger } from '../../src/market/ledger.js';
import { startTestMarket, type TestMarket } from '../helpers/market.js';
import { ScriptedWorker } from '../helpers/ws-worker.js';

let tm: TestMarket;
let workers: ScriptedWorker[] = [];
beforeAll(async () => {
  // Industrial jobs post a 10% bond from the provider's account (funded below).
  tm = await startTestMarket({ config: { lease_ms: 60_000 }, params: { sla_bond_pct: 10 } });
  // 0.001 per unit; each synthetic task below is one unit. One worker is paid all in CPC, the
  // other 25% CPC and 75% IT: each takes only the tasks escrowed in its mix.
  workers = [new ScriptedWorker(tm.url), new ScriptedWorker(tm.url)];
  await workers[0]?.join({ slots: 3, price: '0.001' });
  await workers[1]?.join({ slots: 3, price: '0.001', feePctCt: 25 });
  for (const w of workers)
    await tm.operator.request('POST', `/providers/${w.key.address}/fund`, { amount: '10.0' });
});
afterAll(async () => {
  for (const w of workers) w.close();
  await tm?.close();
});

const base = (s: string) => {
  const p = parseAmount(s);
  if (!p.ok) throw new Error(s);
  return p.value;
};

// Weighted so that tasks are created and completed often enough for Real settlements to happen.
const op = fc.oneof(
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('fund' as const),
      amount: fc.constantFrom('0.01', '0.5', '2'),
      asset: fc.constantFrom('CPC' as const, 'IT' as const),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('create' as const),
      reward: fc.constantFrom('0.001', '0.05', '0.3', '3'),
      feePctCt: fc.constantFrom(100, 25),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('complete' as const), which: fc.nat(1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('fail' as const), which: fc.nat(1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('slash' as const), which: fc.nat(1) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('mode' as const), real: fc.boolean() }) },
);

/** A job running on worker `which`, or else on the other one (waiting briefly for one to arrive). */
async function runningJob(which: number): Promise<{ worker: ScriptedWorker; job: JobMsg | undefined }> {
  const order = [workers[which], workers[1 - which]] as ScriptedWorker[];
  for (const worker of order) {
    const job = worker.take<JobMsg>('job');
    if (job) return { worker, job };
  }
  const worker = order[0] as ScriptedWorker;
  return { worker, job: await worker.within<JobMsg>('job', 100) };
}

/** The operator restores a provider's score to 0 (gossip, a newer epoch) so it keeps working. */
async function forgive(address: string): Promise<void> {
  const { entries } = await tm.operator.request<{ entries: { provider_id: string; epoch: number }[] }>(
    'POST',
    '/rpc',
    { method: 'reputation.snapshot' },
  );
  const epoch = entries.find((e) => e.provider_id === address)?.epoch ?? 0;
  await tm.operator.request('POST', '/rpc', {
    method: 'reputation.gossip',
    params: { entries: [{ provider_id: address, reputation_score: 0, epoch: epoch + 1 }] },
  });
}

it('keeps the ledger balanced and charges each completed task once, whatever the order', async () => {
  let run = 0;
  let charges = 0;
  let mixedCharges = 0;
  let fails = 0;
  let slashes = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 16 }), async (ops) => {
      const { client } = await tm.customer('1.0', `seq-${++run}`);
      const me0 = await client.me();
      await tm.operator.fundAccount(me0.account_id, '1.0', 'IT');
      const funded = { CPC: base('1.0'), IT: base('1.0') };
      const tasks: string[] = [];
      for (const o of ops) {
        if (o.kind === 'fund') {
          await tm.operator.fundAccount(me0.account_id, o.amount, o.asset);
          funded[o.asset] += base(o.amount);
        } else if (o.kind === 'create') {
          const created = await client
            .createTask({
              challenge_type: 'synthetic',
              payload: { seed: 'ab', matrix_size: 2, iterations: 1 },
              reward: o.reward,
              fee_pct_ct: o.feePctCt,
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
          const { worker, job } = await runningJob(o.which);
          if (job) worker.send(worker.result(job));
        } else if (o.kind === 'fail') {
          // The worker finds the payload invalid: the task fails and is refunded.
          const { worker, job } = await runningJob(o.which);
          if (job) {
            worker.send({ type: 'job_failed', job_id: job.job_id, reason: 'invalid_payload', message: 'no' });
            fails++;
          }
        } else if (o.kind === 'slash') {
          // The provider walks away from a running job: its bond is slashed, the job requeued.
          const { worker, job } = await runningJob(o.which);
          if (job) {
            await tm.operator
              .request('POST', '/rpc', {
                method: 'compute.job_cancel',
                params: { job_id: job.job_id, reason: 'provider' },
              })
              .catch((err: { code?: string }) => expect(err.code).toMatch(/already_done|conflict/));
            await forgive(worker.key.address);
            slashes++;
          }
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
      for (const worker of workers)
        for (let job = worker.take<JobMsg>('job'); job; job = worker.take<JobMsg>('job')) {
          /* cancelled jobs: their messages are stale */
        }

      const report = await verifyLedger(tm.market.db);
      expect(report.violations).toEqual([]);
      // Each task here is one job, so its charge is split in its mix in one piece.
      const perTask = await tm.market.db.query<{ amount: string; fee_pct_ct: number }>(
        `SELECT sum(r.amount)::text AS amount, t.fee_pct_ct FROM receipts r JOIN tasks t USING (task_id)
         JOIN accounts a ON a.account_id = t.account_id WHERE a.name = $1 AND r.applied
         GROUP BY t.task_id, t.fee_pct_ct`,
        [`seq-${run}`],
      );
      const charged = { CPC: 0n, IT: 0n };
      for (const t of perTask) {
        const part = splitEscrow(BigInt(t.amount), t.fee_pct_ct);
        charged.CPC += part.ct;
        charged.IT += part.it;
      }
      if (perTask.length > 0) charges++;
      if (perTask.some((t) => t.fee_pct_ct !== 100)) mixedCharges++;
      const me = await client.me();
      for (const asset of ['CPC', 'IT'] as const)
        expect(me.balances.find((b) => b.asset === asset)).toMatchObject({
          escrow: '0.0',
          balance: formatAmount(funded[asset] - charged[asset]),
        });
      const twice = await tm.market.db.query(
        `SELECT job_id FROM receipts GROUP BY job_id HAVING count(*) > 1`,
      );
      expect(twice).toEqual([]);
    }),
    // Seeded, so the runs are the same each time and some of them settle in Real mode.
    { numRuns: 20, seed: 20261202 },
  );
  expect(charges).toBeGreaterThan(0);
  expect(mixedCharges).toBeGreaterThan(0);
  expect(fails).toBeGreaterThan(0);
  expect(slashes).toBeGreaterThan(0);
}, 120_000);
