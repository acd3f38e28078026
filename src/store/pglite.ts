// The embedded backend: PGlite, PostgreSQL compiled to WebAssembly, in-process.
// A data directory persists it; no directory means an in-memory database (tests).

import { mkdirSync } from 'node:fs';
import { PGlite, types } from '@electric-sql/pglite';
import { parseInt8, type Db, type Queryable, type Row } from './db.js';

/** `loadDataDir`: start from a dump (PGlite's dumpDataDir) instead of an empty cluster. */
export async function openPglite(dataDir?: string, opts: { loadDataDir?: Blob } = {}): Promise<Db> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const pg = await PGlite.create(dataDir, {
    parsers: { [types.INT8]: parseInt8 },
    ...(opts.loadDataDir ? { loadDataDir: opts.loadDataDir } : {}),
  });
  const query = async <R extends Row>(q: Queryable | PGlite, sql: string, params?: readonly unknown[]) =>
    (await (q as PGlite).query<R>(sql, params as unknown[])).rows;
  return {
    kind: 'pglite',
    query: (sql, params) => query(pg, sql, params),
    transaction: (fn) =>
      pg.transaction((tx) =>
        fn({
          query: async <R extends Row>(sql: string, params?: readonly unknown[]) =>
            (await tx.query<R>(sql, params as unknown[])).rows,
          script: async (sql: string) => {
            await tx.exec(sql);
          },
        }),
      ),
    close: () => pg.close(),
  };
}
