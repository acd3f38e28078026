// The embedded backend: PGlite, PostgreSQL compiled to WebAssembly, in-process.
// A data directory persists it; no directory means an in-memory database (tests).
//
// Memory: the WebAssembly heap never shrinks and everything PostgreSQL touches in it stays resident,
// so its settings are the node's memory. initdb sizes shared_buffers for a server (160 MB here),
// all of it allocated and touched at start; PGLITE_SETTINGS size it for one process that reads its
// pages through the OS page cache anyway. Figures in docs/decisions.md.

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { PGlite, types } from '@electric-sql/pglite';
import { lockDataDir } from './data-dir-lock.js';
import { parseInt8, type Db, type Row } from './db.js';
import { preparePgliteDir, secureTree } from './pglite-data-dir.js';

/** PostgreSQL settings PGlite starts with, on top of PGlite's own start parameters. */
export const PGLITE_SETTINGS: Readonly<Record<string, string>> = Object.freeze({
  // 160 MB by initdb's probe, all resident from the start; 16 MB holds the hot pages of a busy
  // market (the queue, the newest tasks) and a miss is a read from the OS page cache.
  shared_buffers: '16MB',
  // By default 1/32 of shared_buffers (512 kB); a group commit of 256 creates writes more WAL than
  // that, and with no background writer in single-user mode the backend then writes WAL mid-batch.
  wal_buffers: '4MB',
  // CREATE INDEX in a migration and VACUUM grow the heap to this, and the heap never shrinks.
  maintenance_work_mem: '16MB',
  // Lock table and per-backend arrays are sized for max_connections; PGlite has one backend.
  max_connections: '10',
});

export function pgliteStartParams(): string[] {
  return [
    ...PGlite.defaultStartParams,
    ...Object.entries(PGLITE_SETTINGS).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
  ];
}

/**
 * Keeps WebAssembly on V8's baseline compiler (Liftoff) for the rest of the process. By default
 * V8 recompiles PGlite's hot functions with its optimizing compiler (TurboFan) in the background:
 * that code and the compiler's working memory, which the allocator keeps, cost 45–65 MB of
 * resident memory on an idle node. Without it reads through the API are about 40% slower and
 * creates (group commits) unchanged (docs/decisions.md). It applies to modules compiled after the
 * call, so it must come before the process's first PGlite.
 */
function baselineWasmOnly(): void {
  setFlagsFromString('--liftoff-only');
}

/**
 * `loadDataDir`: start from a dump (PGlite's dumpDataDir) instead of an empty cluster.
 * `wasmOptimizer: false`: see baselineWasmOnly.
 */
export async function openPglite(
  dataDir?: string,
  opts: { loadDataDir?: Blob; wasmOptimizer?: boolean } = {},
): Promise<Db> {
  if (opts.wasmOptimizer === false) baselineWasmOnly();
  if (dataDir) mkdirSync(dirname(dataDir), { recursive: true, mode: 0o700 });
  const lock = dataDir ? lockDataDir(`${dataDir}.lock`) : undefined;
  let pg: PGlite;
  try {
    if (dataDir) await preparePgliteDir(dataDir);
    pg = await PGlite.create(dataDir, {
      parsers: { [types.INT8]: parseInt8 },
      startParams: pgliteStartParams(),
      ...(opts.loadDataDir ? { loadDataDir: opts.loadDataDir } : {}),
    });
    // Files PGlite's own initdb wrote (no template) or an older version left are 0666.
    if (dataDir) secureTree(dataDir);
  } catch (err) {
    lock?.release();
    throw err;
  }
  return pgliteDb(pg, () => lock?.release());
}

/** The storage port over an open PGlite instance; `released` runs once it is closed. */
export function pgliteDb(pg: PGlite, released: () => void = () => {}): Db {
  return {
    kind: 'pglite',
    query: async <R extends Row>(sql: string, params?: readonly unknown[]) =>
      (await pg.query<R>(sql, params as unknown[])).rows,
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
    close: async () => {
      try {
        await pg.close();
      } finally {
        released();
      }
    },
  };
}
