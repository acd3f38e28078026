// Opens the node's database from its configuration: a postgres:// URL, or PGlite in a directory.

import { join } from 'node:path';
import type { Db } from './db.js';
import { migrate } from './migrate.js';
import { openPglite } from './pglite.js';
import { openPostgres } from './postgres.js';

export interface OpenOptions {
  databaseUrl?: string | undefined;
  dataDir?: string | undefined;
  schema?: string | undefined;
  poolSize?: number | undefined;
}

export async function openDatabase(options: OpenOptions): Promise<Db> {
  const db = options.databaseUrl
    ? await openPostgres({
        url: options.databaseUrl,
        ...(options.schema ? { schema: options.schema } : {}),
        ...(options.poolSize ? { poolSize: options.poolSize } : {}),
      })
    : await openPglite(options.dataDir ? join(options.dataDir, 'pglite') : undefined);
  try {
    await migrate(db);
  } catch (err) {
    await db.close();
    throw err;
  }
  return db;
}
