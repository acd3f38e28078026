// Two market nodes on one database act as one market: admission counts the capacity offered
// through either node, parameters changed on one reach the other, and offers of a node that
// stopped without closing them stop counting.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/store/db.js';
import { closeStaleOffers } from '../../src/store/cluster.js';
import { startTestMarket, type TestMarket } from '../helpers/market.js';
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
  a = await startTestMarket({ db: shared, background: false, params });
  b = await startTestMarket({ db: shared, background: false, params });
});
afterAll(async () => {
  await pool.closeAll();
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

  it('reloads parameters another node changed', async () => {
    await b.market.cluster.refresh();
    await a.operator.request('PUT', '/params', { aging_seconds_per_level: 77 });
    expect(b.market.params.get().aging_seconds_per_level).not.toBe(77);
    await b.market.cluster.refresh();
    expect(b.market.params.get().aging_seconds_per_level).toBe(77);
  });
});
