// Opens the node's database from its configuration: a postgres:// URL, or PGlite in a directory.
// Each backend's module is imported only when it is the one configured: a node on PGlite never
// loads the PostgreSQL driver (and the other way round), which keeps their code out of its heap.

import { join } from 'node:path';
import type { Db } from './db.js';
import { migrate } from './migrate.js';

export interface OpenOptions {
  databaseUrl?: string | undefined;
  dataDir?: string | undefined;
  schema?: string | undefined;
  poolSize?: number | undefined;
  /** PGlite only: false keeps its WebAssembly on the baseline compiler (src/store/pglite.ts). */
  pgliteWasmOptimizer?: boolean | undefined;
}

export async function openDatabase(options: OpenOptions): Promise<Db> {
  const db = await openBackend(options);
  try {
    await migrate(db);
  } catch (err) {
    await db.close();
    throw err;
  }
  return db;
}

async function openBackend(options: OpenOptions): Promise<Db> {
  if (options.databaseUrl) {
    const { openPostgres } = await import('./postgres.js');
    return openPostgres({
      url: options.databaseUrl,
      ...(options.schema ? { schema: options.schema } : {}),
      ...(options.poolSize ? { poolSize: options.poolSize } : {}),
    });
  }
  const { openPglite } = await import('./pglite.js');
  return openPglite(options.dataDir ? join(options.dataDir, 'pglite') : undefined, {
    wasmOptimizer: options.pgliteWasmOptimizer ?? true,
  });
}
