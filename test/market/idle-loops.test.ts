// What an idle node does to its database. On PGlite one process holds the data directory, so the
// node is the whole market: it keeps no cluster heartbeat, closes what an earlier run left open at
// once, and its courier reads the outbox and the chain only when something could be due. On
// PostgreSQL, where other nodes may share the database, every loop keeps running.

import { afterEach, expect, it, vi } from 'vitest';
import type { Db } from '../../src/store/db.js';
import { getOutboxByKey } from '../../src/store/outbox.js';
import { realSettlement, startTestMarket, type TestMarket } from '../helpers/market.js';
import { testDb } from '../helpers/db.js';
import { WorkerPool } from '../helpers/ws-worker.js';

const open: TestMarket[] = [];
afterEach(async () => {
  for (const m of open.splice(0)) await m.close();
});

async function seenAt(db: Db, nodeId: string): Promise<number> {
  const [row] = await db.query<{ seen: string }>(
    `SELECT seen_at_ms::text AS seen FROM market_nodes WHERE node_id = $1`,
    [nodeId],
  );
  return Number(row?.seen);
}

it('says it is alive every second only where other nodes may share the database', async () => {
  const tm = await startTestMarket();
  open.push(tm);
  const { db, cluster } = tm.market;
  const first = await seenAt(db, cluster.nodeId);
  if (db.kind === 'postgres') {
    await vi.waitFor(async () => expect(await seenAt(db, cluster.nodeId)).toBeGreaterThan(first), {
      timeout: 10_000,
    });
  } else {
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await seenAt(db, cluster.nodeId)).toBe(first);
    expect(cluster.leader).toBe(true);
  }
  // The first test of the file also makes the test database (initdb on a loaded machine).
}, 60_000);

it.runIf(!process.env.TEST_DATABASE_URL)(
  'on PGlite closes the offers an earlier run left open when it starts, and leads',
  async () => {
    const db = await testDb();
    // Each node would close the database on close; it is closed once, at the end.
    const shared: Db = { ...db, close: async () => {} };
    const earlier = await startTestMarket({ db: shared, background: false });
    const pool = new WorkerPool(() => ({
      url: earlier.url,
      connected: () => earlier.market.dispatcher.connected,
    }));
    try {
      await pool.joined({ units: 100 });
      expect(await db.query(`SELECT 1 FROM offers WHERE status = 'open'`)).toHaveLength(1);
      // The earlier run is never stopped (as if killed); a new one starts on the same database.
      const before = Date.now();
      const next = await startTestMarket({ db: shared, background: false });
      open.push(next);
      expect(await db.query(`SELECT 1 FROM offers WHERE status = 'open'`)).toHaveLength(0);
      // Closed now, in milliseconds as every time column.
      const [closed] = await db.query<{ closed_at_ms: string }>(`SELECT closed_at_ms::text FROM offers`);
      expect(Number(closed?.closed_at_ms)).toBeGreaterThanOrEqual(before);
      expect(next.market.cluster.leader).toBe(true);
      expect(next.market.cluster.otherUnits).toBe(0);
    } finally {
      await pool.closeAll();
      await earlier.close();
      await db.close();
    }
  },
);

it('delivers an outbox entry promptly although its courier had gone quiet', async () => {
  // Blocks only when asked: an idle PGlite node's courier then has no reason to look again.
  const tm = await startTestMarket({
    config: { courier_interval_ms: 20, chain_block_interval_ms: 3_600_000 },
  });
  open.push(tm);
  const link = tm.market.chainLink!;
  let rounds = 0;
  const flush = link.courier.flush.bind(link.courier);
  link.courier.flush = (o) => {
    rounds++;
    return flush(o);
  };
  if (tm.market.db.kind === 'pglite') {
    await vi.waitFor(() => expect(rounds).toBeGreaterThan(0), { timeout: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const quiet = rounds;
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(rounds).toBe(quiet);
  } else {
    await vi.waitFor(() => expect(rounds).toBeGreaterThan(5), { timeout: 10_000 });
  }
  await link.outbox.queueBid(tm.market.db, 'bid-idle-test', 'ab'.repeat(32));
  await vi.waitFor(
    async () => {
      const row = await getOutboxByKey(tm.market.db, 'bid:bid-idle-test');
      expect(row?.status).toBe('sent');
    },
    { timeout: 10_000 },
  );
});

it('sends a task result on chain promptly although its courier had gone quiet', async () => {
  const tm = await startTestMarket({
    config: { courier_interval_ms: 20, chain_block_interval_ms: 3_600_000 },
  });
  open.push(tm);
  await realSettlement(tm);
  const pool = new WorkerPool(() => ({ url: tm.url, connected: () => tm.market.dispatcher.connected }));
  try {
    const worker = await pool.joined({ units: 100 });
    worker.answer((job) => worker.honest(job));
    // Long enough for the courier to find nothing to do and go quiet.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const { client } = await tm.customer('10.0');
    const task = await client.createTask({
      challenge_type: 'synthetic',
      payload: { seed: 'ab', matrix_size: 2, iterations: 1 },
      reward: '0.01',
    });
    await vi.waitFor(
      async () => {
        const row = await getOutboxByKey(tm.market.db, `result:${task.task_id}`);
        expect(row?.status).toBe('sent');
      },
      { timeout: 10_000 },
    );
  } finally {
    await pool.closeAll();
  }
}, 60_000);
