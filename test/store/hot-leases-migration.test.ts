// Migration 0110 on a database that already holds tasks: open tasks past their deadline are still
// found by the deadline sweep and ended ones are not, the listing by status still finds each
// status, and no index of tasks keys or filters on `status` any more, so the lease's pending →
// in_progress (and a requeue) can be a HOT update.

import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Db } from '../../src/store/db.js';
import { loadMigrations, migrate } from '../../src/store/migrate.js';
import { openPglite } from '../../src/store/pglite.js';
import { openPostgres } from '../../src/store/postgres.js';
import { listTasks, nextOpenDeadline, overdueTaskIds } from '../../src/store/tasks.js';
import { dropSchema, freshSchema, TEST_DATABASE_URL } from '../helpers/db.js';

const MS = 1_780_000_000_000;
const BUYER = '00000000-0000-0000-0000-000000000001';
const id = (n: number) => `10000000-0000-0000-0000-${String(n).padStart(12, '0')}`;

let db: Db;
const schema = freshSchema();

/** Inserts task `n` in `status` with this deadline (or none). */
function insertTask(n: number, status: string, deadline: number | null): Promise<unknown> {
  return db.query(
    `INSERT INTO tasks (task_id, account_id, challenge_type, payload, reward, escrow_held, status, deadline_ms,
                        created_at_ms, updated_at_ms)
     VALUES ($1, $2, 'synthetic', '{}', 1, 1, $3, $4, $5, $5)`,
    [id(n), BUYER, status, deadline, MS],
  );
}

beforeAll(async () => {
  db = TEST_DATABASE_URL ? await openPostgres({ url: TEST_DATABASE_URL, schema }) : await openPglite();
  await migrate(
    db,
    loadMigrations().filter((m) => m.version < 110),
  );
  await insertTask(1, 'pending', MS + 10);
  await insertTask(2, 'in_progress', MS + 5);
  await insertTask(3, 'completed', MS + 1);
  await insertTask(4, 'failed', MS + 2);
  await insertTask(5, 'cancelled', MS + 3);
  await insertTask(6, 'pending', null);
  await insertTask(7, 'in_progress', MS + 1_000);
  await migrate(db);
});

afterAll(async () => {
  await db?.close();
  await dropSchema(schema);
});

it('sweeps the open tasks written before it that are past their deadline, and no ended one', async () => {
  expect(await nextOpenDeadline(db)).toBe(MS + 5);
  expect(await overdueTaskIds(db, MS + 100, 10)).toEqual([id(2), id(1)]);
});

it('stops sweeping a task once it ends, whichever way it ends', async () => {
  await db.query(`UPDATE tasks SET status = 'completed' WHERE task_id = $1`, [id(2)]);
  await db.query(`UPDATE tasks SET status = 'cancelled' WHERE task_id = $1`, [id(1)]);
  expect(await overdueTaskIds(db, MS + 100, 10)).toEqual([]);
  expect(await nextOpenDeadline(db)).toBe(MS + 1_000);
  await db.query(`UPDATE tasks SET status = 'failed' WHERE task_id = $1`, [id(7)]);
  expect(await nextOpenDeadline(db)).toBeNull();
});

it('still lists tasks by each status, newest first', async () => {
  await insertTask(8, 'in_progress', MS + 50);
  await db.query(`UPDATE tasks SET status = 'pending' WHERE task_id = $1`, [id(8)]);
  expect(await overdueTaskIds(db, MS + 100, 10)).toEqual([id(8)]);
  const list = async (status: 'pending' | 'in_progress' | 'completed' | 'failed' | 'cancelled') =>
    (await listTasks(db, { status, limit: 10, offset: 0 })).rows.map((r) => r.task_id);
  expect(await list('pending')).toEqual([id(8), id(6)]);
  expect(await list('in_progress')).toEqual([]);
  expect(await list('completed')).toEqual([id(3), id(2)]);
  expect(await list('failed')).toEqual([id(7), id(4)]);
  expect(await list('cancelled')).toEqual([id(5), id(1)]);
  expect((await listTasks(db, { status: 'failed', accountId: BUYER, limit: 1, offset: 0 })).total).toBe(2);
});

it('keeps status out of every index of tasks, so a lease can update a task in place (HOT)', async () => {
  const rows = await db.query<{ indexname: string; indexdef: string }>(
    `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'tasks'
     ORDER BY indexname`,
  );
  expect(rows.filter((r) => /\bstatus\b/.test(r.indexdef))).toEqual([]);
  expect(rows.map((r) => r.indexname)).toEqual(
    expect.arrayContaining(['tasks_open_deadline', 'tasks_phase_seq']),
  );
  const [opts] = await db.query<{ reloptions: string[] }>(
    `SELECT reloptions FROM pg_class WHERE oid = 'tasks'::regclass`,
  );
  expect(opts?.reloptions).toContain('fillfactor=70');
});

// PostgreSQL only: PGlite has no other session to read the statistics from.
it.skipIf(!TEST_DATABASE_URL)('updates a task in place when it starts or is requeued (HOT)', async () => {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL, options: `-c search_path=${schema}` });
  await client.connect();
  try {
    const hot = async () => {
      await client.query('SELECT pg_stat_force_next_flush()');
      const { rows } = await client.query<{ n: number }>(
        `SELECT n_tup_hot_upd::int AS n FROM pg_stat_user_tables WHERE relid = 'tasks'::regclass`,
      );
      return rows[0]?.n ?? 0;
    };
    const before = await hot();
    await client.query(`UPDATE tasks SET status = 'in_progress' WHERE task_id = $1`, [id(6)]);
    await client.query(`UPDATE tasks SET status = 'pending' WHERE task_id = $1`, [id(6)]);
    expect((await hot()) - before).toBe(2);
  } finally {
    await client.end();
  }
});
