// Migration 0080 on a database that already holds rows: seconds become milliseconds (× 1000,
// NULL stays NULL), milliseconds keep their values under the new names, and the indexes on the
// converted columns still exist with their predicates.

import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Db } from '../../src/store/db.js';
import { loadMigrations, migrate } from '../../src/store/migrate.js';
import { openPglite } from '../../src/store/pglite.js';
import { openPostgres } from '../../src/store/postgres.js';
import { dropSchema, freshSchema, TEST_DATABASE_URL } from '../helpers/db.js';

const SECS = 1_780_000_000;
const MS = 1_780_000_000_123;
const ESCROW = '00000000-0000-0000-0000-000000000001';

let db: Db;
const schema = freshSchema();

beforeAll(async () => {
  db = TEST_DATABASE_URL ? await openPostgres({ url: TEST_DATABASE_URL, schema }) : await openPglite();
  await migrate(
    db,
    loadMigrations().filter((m) => m.version < 80),
  );
  await db.query(
    `INSERT INTO tasks (task_id, account_id, challenge_type, payload, reward, escrow_held, deadline, status,
                        completed_at, created_at, updated_at)
     VALUES ('10000000-0000-0000-0000-000000000001', $1, 'synthetic', '{}', 1, 1, $2::bigint, 'pending', NULL, $2::bigint, $2::bigint + 1)`,
    [ESCROW, SECS],
  );
  await db.query(
    `INSERT INTO jobs (job_id, task_id, idx, challenge_type, slices, units, status, queued_at, sort_key, lease_expires_at)
     VALUES ('20000000-0000-0000-0000-000000000001', '10000000-0000-0000-0000-000000000001', 0, 'synthetic', '[]', 1,
             'leased', $1::bigint, $1::bigint - 5, $1::bigint + 30000)`,
    [MS],
  );
  await db.query(
    `INSERT INTO ledger_entries (journal_id, kind, account_id, asset, amount, created_at)
     VALUES (gen_random_uuid(), 'fund', $1, 'CPC', 0, $2)`,
    [ESCROW, SECS],
  );
  // Up to 0080's successors that leave these tables' indexes alone (0100 drops jobs_queued).
  await migrate(
    db,
    loadMigrations().filter((m) => m.version < 100),
  );
});

afterAll(async () => {
  await db?.close();
  await dropSchema(schema);
});

it('multiplies the seconds columns by 1000 and keeps the milliseconds ones', async () => {
  expect(
    await db.query(`SELECT deadline_ms, created_at_ms, updated_at_ms, completed_at_ms FROM tasks`),
  ).toEqual([
    {
      deadline_ms: SECS * 1000,
      created_at_ms: SECS * 1000,
      updated_at_ms: (SECS + 1) * 1000,
      completed_at_ms: null,
    },
  ]);
  expect(await db.query(`SELECT created_at_ms FROM ledger_entries`)).toEqual([
    { created_at_ms: SECS * 1000 },
  ]);
  expect(await db.query(`SELECT queued_at_ms, sort_key_ms, lease_expires_at_ms FROM jobs`)).toEqual([
    { queued_at_ms: MS, sort_key_ms: MS - 5, lease_expires_at_ms: MS + 30_000 },
  ]);
  // The market's own accounts, created at 0 by the first migrations, stay at 0.
  expect(await db.query(`SELECT DISTINCT created_at_ms FROM accounts`)).toEqual([{ created_at_ms: 0 }]);
});

it('keeps the indexes on the converted columns, predicates included', async () => {
  const rows = await db.query<{ indexname: string; indexdef: string }>(
    `SELECT indexname, indexdef FROM pg_indexes
     WHERE schemaname = current_schema() AND indexname = ANY($1::text[]) ORDER BY indexname`,
    [['bids_account', 'jobs_leased', 'jobs_queued', 'payouts_unbatched', 'tasks_open_deadline']],
  );
  expect(rows.map((r) => r.indexname)).toEqual([
    'bids_account',
    'jobs_leased',
    'jobs_queued',
    'payouts_unbatched',
    'tasks_open_deadline',
  ]);
  const open = rows.find((r) => r.indexname === 'tasks_open_deadline')?.indexdef ?? '';
  expect(open).toMatch(/\(deadline_ms\) WHERE .*status.*deadline_ms IS NOT NULL/);
});
