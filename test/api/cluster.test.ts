// Two market nodes on one database act as one market: admission counts the capacity offered
// through either node, parameters changed on one reach the other, and offers of a node that
// stopped without closing them stop counting.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/clock.js';
import type { Db } from '../../src/store/db.js';
import { closeStaleOffers } from '../../src/store/cluster.js';
import { TaskMarketClient } from '../../src/client/client.js';
import { apiError, startTestMarket, type TestMarket } from '../helpers/market.js';
import { testDb } from '../helpers/db.js';
import { WorkerPool } from '../helpers/ws-worker.js';

let db: Db;
let a: TestMarket;
let b: TestMarket;
const pool = new WorkerPool(() => ({ url: b.url, connected: () => b.market.dispatcher.connected }));

beforeAll(async () => {
  db = await testDb();
  // Each node closes "its" database on close; the real one is closed once, at the end.
  const shared: Db = { ...db, close: async () => {} };
  const params = { admission_enabled: true, min_capacity: 10 };
  // The nodes' clock stands still, so fair-share usage does not decay while a loaded machine
  // creates the tasks (liveness runs on the database's clock).
  const clock = new ManualClock(Date.now());
  a = await startTestMarket({ db: shared, background: false, params, clock });
  b = await startTestMarket({ db: shared, background: false, params, clock });
});
afterEach(() => pool.closeAll());
afterAll(async () => {
  await a?.close();
  await b?.close();
  await db?.close();
});

describe('several nodes on one database', () => {
  it('counts the capacity offered through another node, and only while that node is alive', async () => {
    expect(a.market.admission.capacity()).toBe(0);
    const w = pool.make();
    await w.join({ units: 500 });
    await b.market.cluster.refresh();
    await a.market.cluster.refresh();
    expect(a.market.cluster.otherUnits).toBe(500);
    expect(a.market.admission.capacity()).toBe(500);
    // An industrial task on node A is admitted although no worker is connected to A.
    const { client } = await a.customer('10.0');
    const task = await client.createTask({
      challenge_type: 'training',
      payload: { model_architecture: 'resnet50', dataset_url: 'https://x/y', epochs: 1, batch_size: 1 },
      reward: '1.0',
    });
    expect(task.status).toBe('pending');
    await client.cancelTask(task.task_id);
    // B stops saying it is alive: after the freshness window its offers no longer count, and
    // once stale A closes them.
    await db.query(`UPDATE market_nodes SET seen_at_ms = seen_at_ms - 600000 WHERE node_id = $1`, [
      b.market.cluster.nodeId,
    ]);
    await a.market.cluster.refresh();
    expect(a.market.cluster.otherUnits).toBe(0);
    const open = await db.query(`SELECT 1 FROM offers WHERE status = 'open'`);
    expect(open).toHaveLength(0);
    expect(await closeStaleOffers(db, 60_000, 0)).toBe(0);
    await b.market.cluster.refresh();
  });

  it('holds a buyer to one fair share of the whole market, whichever node it uses', async () => {
    const w = pool.make();
    await w.join({ units: 500 });
    // 0.1% of 500 units/s over 60 s: 30 units, and no burst bucket to go over it.
    await a.operator.request('PUT', '/params', { fair_share_cap: 0.001, burst_quota: 0 });
    for (const node of [b, a]) await node.market.cluster.refresh();
    expect(a.market.admission.capacity()).toBe(500);
    expect(b.market.admission.capacity()).toBe(500);
    const { apiKey } = await a.customer('10.0');
    const on = (node: TestMarket) => new TaskMarketClient({ url: node.url, apiKey });
    const synthetic = {
      challenge_type: 'synthetic' as const,
      payload: { seed: 'ab', matrix_size: 2, iterations: 1 },
      reward: '0.01',
    };
    for (let i = 0; i < 30; i++) await on(a).createTask(synthetic);
    // Node B has not heard of A's records yet: its own view admits the buyer.
    expect(b.market.admission.usageOf('buyer', (await on(b).me()).account_id).usage).toBe(0);
    for (const node of [a, b]) await node.market.cluster.refresh();
    expect(b.market.admission.usageOf('buyer', (await on(b).me()).account_id).usage).toBe(30);
    expect(await apiError(on(b).createTask(synthetic))).toMatchObject({ status: 429, code: 'fair_share' });
  });

  it('lets the longest-running live node alone run the courier', async () => {
    for (const node of [a, b]) await node.market.cluster.refresh();
    expect(a.market.cluster.leader).toBe(true);
    expect(b.market.cluster.leader).toBe(false);
    // A stops being seen: B takes over.
    await db.query(`UPDATE market_nodes SET seen_at_ms = seen_at_ms - 600000 WHERE node_id = $1`, [
      a.market.cluster.nodeId,
    ]);
    await b.market.cluster.refresh();
    expect(b.market.cluster.leader).toBe(true);
    await a.market.cluster.refresh();
    expect(a.market.cluster.leader).toBe(true);
    await b.market.cluster.refresh();
    expect(b.market.cluster.leader).toBe(false);
  });

  it('reloads parameters another node changed', async () => {
    await b.market.cluster.refresh();
    await a.operator.request('PUT', '/params', { aging_seconds_per_level: 77 });
    expect(b.market.params.get().aging_seconds_per_level).not.toBe(77);
    await b.market.cluster.refresh();
    expect(b.market.params.get().aging_seconds_per_level).toBe(77);
  });
});
