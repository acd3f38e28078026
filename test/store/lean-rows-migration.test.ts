// Migration 0100 on a database that already holds tasks: the rows stay, an idempotency key is
// still unique per account under the same constraint name, tasks without a key are still free,
// and only keyed tasks are kept in that index; the two indexes no statement used are gone.

import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Db } from '../../src/store/db.js';
import { loadMigrations, migrate } from '../../src/store/migrate.js';
import { openPglite } from '../../src/store/pglite.js';
import { openPostgres } from '../../src/store/postgres.js';
import { dropSchema, freshSchema, TEST_DATABASE_URL } from '../helpers/db.js';

const MS = 1_780_000_000_123;
const BUYER = '00000000-0000-0000-0000-000000000001';
const OTHER = '00000000-0000-0000-0000-000000000002';

let db: Db;
const schema = freshSchema();
let n = 0;

/** Inserts a pending task of `account` with this idempotency key (or none). */
function insertTask(account: string, key: string | null): Promise<unknown> {
  n += 1;
  return db.query(
    `INSERT INTO tasks (task_id, account_id, challenge_type, payload, reward, escrow_held, status, idempotency_key,
                        created_at_ms, updated_at_ms)
     VALUES ($1, $2, 'synthetic', '{}', 1, 1, 'pending', $3, $4, $4)`,
    [`10000000-0000-0000-0000-${String(n).padStart(12, '0')}`, account, key, MS],
  );
}

beforeAll(async () => {
  db = TEST_DATABASE_URL ? await openPostgres({ url: TEST_DATABASE_URL, schema }) : await openPglite();
  await migrate(
    db,
    loadMigrations().filter((m) => m.version < 100),
  );
  await insertTask(BUYER, 'k1');
  await insertTask(BUYER, null);
  await insertTask(BUYER, null);
  await migrate(db);
});

afterAll(async () => {
  await db?.close();
  await dropSchema(schema);
});

it('keeps the tasks written before it', async () => {
  expect(await db.query(`SELECT idempotency_key, status FROM tasks ORDER BY task_id`)).toEqual([
    { idempotency_key: 'k1', status: 'pending' },
    { idempotency_key: null, status: 'pending' },
    { idempotency_key: null, status: 'pending' },
  ]);
});

it('still refuses a second task under one account and key, by the same constraint name', async () => {
  await expect(insertTask(BUYER, 'k1')).rejects.toThrow(/tasks_account_id_idempotency_key_key/);
  await insertTask(OTHER, 'k1');
  await insertTask(BUYER, null);
  expect(await db.query(`SELECT count(*)::int AS n FROM tasks`)).toEqual([{ n: 5 }]);
});

it('indexes only the tasks that carry a key', async () => {
  const [index] = await db.query<{ indexdef: string }>(
    `SELECT indexdef FROM pg_indexes
     WHERE schemaname = current_schema() AND indexname = 'tasks_account_id_idempotency_key_key'`,
  );
  expect(index?.indexdef).toMatch(
    /UNIQUE INDEX .*\(account_id, idempotency_key\) WHERE \(idempotency_key IS NOT NULL\)/,
  );
});

it('drops the indexes that no statement reads (jobs_queued, ledger_entries_journal)', async () => {
  const rows = await db.query<{ indexname: string }>(
    `SELECT indexname FROM pg_indexes
     WHERE schemaname = current_schema() AND indexname = ANY($1::text[]) ORDER BY indexname`,
    [['jobs_queued', 'jobs_queued_by_type', 'ledger_entries_account', 'ledger_entries_journal']],
  );
  expect(rows.map((r) => r.indexname)).toEqual(['jobs_queued_by_type', 'ledger_entries_account']);
});
