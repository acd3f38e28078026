// Each test file gets its own database: an in-memory PGlite, or (TEST_DATABASE_URL set) its own
// schema on the PostgreSQL server, dropped again when the test closes it.
//
// Creating a PGlite cluster (initdb in WebAssembly) costs seconds of CPU, far more than the
// migrations; so a migrated cluster is dumped once into the temporary directory, keyed by the
// migrations and the PGlite version, and every test database starts from a copy of it.

import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import type { Db, Transaction } from '../../src/store/db.js';
import { loadMigrations, migrate } from '../../src/store/migrate.js';
import { openDatabase } from '../../src/store/open.js';
import { openPglite } from '../../src/store/pglite.js';

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL;

export function freshSchema(): string {
  return `t_${randomUUID().replaceAll('-', '')}`;
}

let template: Promise<Blob> | undefined;

/** A dump of a freshly migrated PGlite cluster, made once per machine and version of the schema. */
function migratedTemplate(): Promise<Blob> {
  template ??= (async () => {
    const pkg = new URL('../../node_modules/@electric-sql/pglite/package.json', import.meta.url);
    const hash = createHash('sha256').update(readFileSync(pkg));
    for (const m of loadMigrations()) hash.update(`${m.version}\0${m.sql}\0`);
    const file = join(tmpdir(), `taskmarket-test-pglite-${hash.digest('hex').slice(0, 16)}.tar`);
    if (existsSync(file)) return new Blob([readFileSync(file)]);
    const raw = await PGlite.create();
    const rows = async <R>(q: Promise<{ rows: R[] }>) => (await q).rows;
    const adapter = {
      kind: 'pglite',
      query: (sql: string, params?: readonly unknown[]) => rows(raw.query(sql, params as unknown[])),
      transaction: (fn: (tx: Transaction) => Promise<unknown>) =>
        raw.transaction((tx) =>
          fn({
            query: (sql, params) => rows(tx.query(sql, params as unknown[])),
            script: async (sql) => void (await tx.exec(sql)),
          } as Transaction),
        ),
      close: () => raw.close(),
    } as Db;
    await migrate(adapter);
    const dump = await raw.dumpDataDir('none');
    await raw.close();
    // Written aside and renamed: another test process never reads half a file.
    const part = `${file}.${process.pid}.part`;
    writeFileSync(part, Buffer.from(await dump.arrayBuffer()));
    renameSync(part, file);
    return dump;
  })();
  return template;
}

export async function testDb(): Promise<Db> {
  if (!TEST_DATABASE_URL) {
    const db = await openPglite(undefined, { loadDataDir: await migratedTemplate() });
    await migrate(db);
    return db;
  }
  const schema = freshSchema();
  const db = await openDatabase({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 4 });
  return {
    ...db,
    close: async () => {
      await db.close();
      await dropSchema(schema);
    },
  };
}

export async function dropSchema(schema: string): Promise<void> {
  if (!TEST_DATABASE_URL) return;
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
