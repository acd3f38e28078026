// Each test file gets its own database: an in-memory PGlite, or (TEST_DATABASE_URL set) its own
// schema on the PostgreSQL server, dropped again when the test closes it.

import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Db } from '../../src/store/db.js';
import { openDatabase } from '../../src/store/open.js';

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL;

export function freshSchema(): string {
  return `t_${randomUUID().replaceAll('-', '')}`;
}

export async function testDb(): Promise<Db> {
  if (!TEST_DATABASE_URL) return openDatabase({});
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
