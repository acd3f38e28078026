// The trust property over random markets: whatever mix of honest and cheating providers, at any
// prices, running byte work (the market re-computes it) and synthetic work (replicated on other
// providers): no fabricated result is ever final and paid, no honest provider is ever penalised,
// and the ledger holds. Each run is a real market with scripted workers over WebSocket.

import fc from 'fast-check';
import { expect, it } from 'vitest';
import { blake3Hex } from '../../src/domain/hash.js';
import { proofRoot } from '../../src/domain/merkle.js';
import { runSyntheticSync } from '../../src/domain/synthetic.js';
import { verifyLedger } from '../../src/market/ledger.js';
import { perTestMarkets, realSettlement, startTestMarket } from '../helpers/market.js';
import { until } from '../helpers/until.js';

const { pool, track, closeAll } = perTestMarkets();

type Work = { challenge_type: 'gpuhash' | 'synthetic'; payload: Record<string, unknown> };

/** The result hash an honest provider's result gives the task (one job, its proofs' root, the task's root of that). */
function honestTaskHash(work: Work): string {
  const proof =
    work.challenge_type === 'synthetic'
      ? runSyntheticSync(work.payload as { seed: string; matrix_size: number; iterations: number }).proof
      : blake3Hex(Buffer.from(work.payload.input as string, 'base64'));
  return proofRoot([proofRoot([proof])]);
}

it('never pays for a fabricated result nor penalises an honest provider, whatever the mix', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        honest: fc.integer({ min: 2, max: 3 }),
        cheats: fc.integer({ min: 0, max: 2 }),
        prices: fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 5, maxLength: 5 }),
        works: fc.array(
          fc.oneof(
            fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b): Work => ({
              challenge_type: 'gpuhash',
              payload: { input: Buffer.from(b).toString('base64') },
            })),
            fc.integer({ min: 1, max: 0xffff }).map((n): Work => ({
              challenge_type: 'synthetic',
              payload: { seed: n.toString(16).padStart(4, '0'), matrix_size: 6, iterations: 2 },
            })),
          ),
          { minLength: 1, maxLength: 4 },
        ),
      }),
      async ({ honest, cheats, prices, works }) => {
        const tm = track(
          await startTestMarket({ params: { verification_enabled: true, market_check_max_muladds: 0 } }),
        );
        await realSettlement(tm);
        const workers = [];
        for (let i = 0; i < honest + cheats; i++) {
          const w = pool.make();
          await w.join({ price: `0.0${prices[i] ?? 1}`, slots: 2 });
          const cheat = i >= honest;
          w.answer((job) => (cheat ? w.fabricated(job) : w.honest(job)));
          workers.push({ w, cheat });
        }
        const { client } = await tm.customer('10.0');
        const tasks = await Promise.all(works.map((work) => client.createTask({ ...work, reward: '0.5' })));
        for (const [i, t] of tasks.entries()) {
          const done = await until(`task ${t.task_id}`, async () => {
            const v = (await client.getTask(t.task_id)) as {
              status: string;
              result?: { result_hash: string; worker_address: string };
            };
            return v.status === 'completed' || v.status === 'failed' ? v : undefined;
          });
          // Two honest providers are always there: every task completes, with the honest answer.
          expect(done.status).toBe('completed');
          expect(done.result?.result_hash).toBe(honestTaskHash(works[i] as Work));
          expect(workers.find((x) => x.w.key.address === done.result?.worker_address)?.cheat).toBe(false);
        }
        for (const { w, cheat } of workers) {
          const [p] = await tm.market.db.query<{ fraud: boolean; score: number | null }>(
            `SELECT p.fraud_at_ms IS NOT NULL AS fraud, r.score FROM providers p
             LEFT JOIN provider_reputation r USING (address) WHERE p.address = $1`,
            [w.key.address],
          );
          const [b] = await tm.market.db.query<{ amount: string }>(
            `SELECT b.amount::text AS amount FROM balances b JOIN accounts a USING (account_id)
             WHERE a.address = $1 AND b.asset = 'CPC'`,
            [w.key.address],
          );
          if (cheat) expect(BigInt(b?.amount ?? '0')).toBe(0n);
          else {
            expect(p?.fraud).toBe(false);
            expect(p?.score ?? 0).toBeGreaterThanOrEqual(0);
          }
        }
        expect((await verifyLedger(tm.market.db)).violations).toEqual([]);
        await closeAll();
      },
    ),
    { numRuns: 6 },
  );
}, 600_000);
