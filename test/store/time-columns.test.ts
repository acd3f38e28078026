// One time unit in the schema (issue #11): every time column holds Unix milliseconds (a duration:
// milliseconds) and says so with an `_ms` name. This reads the migrated schema itself, so a later
// migration that adds `expires_at bigint`, a `timestamptz`, or a bigint this file has never heard
// of fails here until it is named `_ms` or listed below as not a time.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/store/db.js';
import { testDb } from '../helpers/db.js';

/** bigint columns that are not times: counts, sizes, ids, sequences, chain heights and nonces. */
const NOT_TIMES = new Set([
  'blobs.size',
  'cancellations.cancel_id',
  'chain_blocks.gas_limit',
  'chain_blocks.gas_used',
  'chain_blocks.height',
  'chain_cursor.next_height',
  'chain_cursor.origin_height',
  'chain_nonces.next_nonce',
  'chain_seen_blocks.height',
  'chain_txs.height',
  'chain_txs.nonce',
  'chain_txs.seq',
  'jobs.seq',
  'jobs.units',
  'ledger_entries.entry_id',
  'offers.units',
  'outbox.height',
  'outbox.id',
  'outbox.nonce',
  'outbox.sent_height',
  'params_audit.audit_id',
  'provider_reputation.epoch',
  'providers.jobs_completed',
  'providers.jobs_failed',
  'providers.lease_expiries',
  'providers.verified_jobs',
  'providers.verified_units',
  'settlement_failures.failure_id',
  'tasks.seq',
  'tasks.units',
]);

/** Written by the migrator itself (a database default), never by the market. */
const MIGRATOR_OWN = new Set(['schema_migrations.applied_at']);

const TIME_WORDS =
  /(^|_)(at|time|times|timestamp|seen|deadline|expires|expiry|until|since|date|when|sort_key|ms)(_|$)/;
const TIME_TYPES = /^(timestamp|date|time|interval)/;

let db: Db;
let columns: { name: string; type: string }[];

beforeAll(async () => {
  db = await testDb();
  columns = (
    await db.query<{ table_name: string; column_name: string; data_type: string }>(
      `SELECT table_name, column_name, data_type FROM information_schema.columns
       WHERE table_schema = current_schema() ORDER BY table_name, column_name`,
    )
  ).map((c) => ({ name: `${c.table_name}.${c.column_name}`, type: c.data_type }));
});

afterAll(() => db.close());

describe('time columns', () => {
  it('every time-like column is a bigint of milliseconds named _ms', () => {
    const times = columns.filter(
      (c) =>
        !MIGRATOR_OWN.has(c.name) && (TIME_WORDS.test(c.name.split('.')[1] ?? '') || TIME_TYPES.test(c.type)),
    );
    expect(times.length).toBeGreaterThan(40);
    expect(times.filter((c) => !c.name.endsWith('_ms') || c.type !== 'bigint')).toEqual([]);
  });

  it('every other bigint is known not to be a time', () => {
    const unknown = columns.filter(
      (c) => c.type === 'bigint' && !c.name.endsWith('_ms') && !NOT_TIMES.has(c.name),
    );
    expect(unknown).toEqual([]);
    // The list stays honest: each entry still names a bigint of the schema.
    const bigints = new Set(columns.filter((c) => c.type === 'bigint').map((c) => c.name));
    expect([...NOT_TIMES].filter((n) => !bigints.has(n))).toEqual([]);
  });
});
