// Blobs: content-addressed bytes (BLAKE3) for task inputs and job outputs. A row says what a blob
// is (hash, size, owner, created_at_ms) and where its bytes are: in a file under the node's blob
// directory (`on_disk`, src/store/blob-files.ts), or, for rows written before migration 0040 or
// through a handle that has no blob directory, in the `data` column. Both are read; moveToDisk()
// empties the column at start.
//
// Keeping bytes out of the database matters most on PGlite: a bytea value passes whole through
// its WebAssembly heap (which never shrinks) on every write and read, and a 60 MiB one took
// 84 s to write on the loaded development machine.

import type { ReadStream } from 'node:fs';
import type { BlobFiles } from './blob-files.js';
import type { Db, Queryable, Row } from './db.js';

/** A database handle that knows this node's blob directory. */
export interface BlobDb extends Db {
  readonly blobFiles: BlobFiles;
}

/** The same database, with blob bytes kept as files under `files`. */
export function withBlobFiles(db: Db, files: BlobFiles): BlobDb {
  return {
    kind: db.kind,
    query: <R extends Row = Row>(sql: string, params?: readonly unknown[]) => db.query<R>(sql, params),
    transaction: (fn) => db.transaction(fn),
    close: () => db.close(),
    blobFiles: files,
  };
}

function filesOf(q: Queryable): BlobFiles | undefined {
  return (q as Partial<BlobDb>).blobFiles;
}

/**
 * Records a blob whose file is in place. A row already there keeps its owner and time; one whose
 * bytes were still in the database is pointed at the file instead.
 */
export async function recordBlobFile(
  q: Queryable,
  hash: string,
  size: number,
  owner: string | null,
  now: number,
): Promise<void> {
  await q.query(
    `INSERT INTO blobs (hash, size, data, owner_account, created_at_ms, on_disk) VALUES ($1, $2, NULL, $3, $4, true)
     ON CONFLICT (hash) DO UPDATE SET data = NULL, on_disk = true WHERE NOT blobs.on_disk`,
    [hash, size, owner, now],
  );
}

/**
 * Stores bytes held in memory under their hash (a second store of the same bytes is a no-op): as
 * a file when the handle has a blob directory, else in the database.
 */
export async function putBlob(
  q: Queryable,
  hash: string,
  data: Uint8Array,
  owner: string | null,
  now: number,
): Promise<void> {
  const files = filesOf(q);
  if (!files) {
    await q.query(
      `INSERT INTO blobs (hash, size, data, owner_account, created_at_ms) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (hash) DO NOTHING`,
      [hash, data.byteLength, data, owner, now],
    );
    return;
  }
  const [row] = await q.query<{ on_disk: boolean }>(`SELECT on_disk FROM blobs WHERE hash = $1`, [hash]);
  if (row?.on_disk && (await files.has(hash))) return;
  await files.write(hash, data);
  await recordBlobFile(q, hash, data.byteLength, owner, now);
}

function noDirectory(hash: string): Error {
  return new Error(`blob ${hash} is kept on disk, but this database handle has no blob directory`);
}

/** A blob's bytes, or undefined (no such blob, or its file is gone). */
export async function getBlob(q: Queryable, hash: string): Promise<Uint8Array | undefined> {
  const [row] = await q.query<{ data: Uint8Array | null; on_disk: boolean }>(
    `SELECT data, on_disk FROM blobs WHERE hash = $1`,
    [hash],
  );
  if (!row) return undefined;
  if (!row.on_disk) return row.data ?? undefined;
  const files = filesOf(q);
  if (!files) throw noDirectory(hash);
  return files.read(hash);
}

/** A blob to send: its size and its bytes, as a stream of its file or (older rows) in memory. */
export interface BlobBody {
  size: number;
  body: ReadStream | Uint8Array;
}

/** A blob ready to send without reading it into memory first, or undefined. */
export async function openBlob(q: Queryable, hash: string): Promise<BlobBody | undefined> {
  const [row] = await q.query<{ size: number; on_disk: boolean }>(
    `SELECT size, on_disk FROM blobs WHERE hash = $1`,
    [hash],
  );
  if (!row) return undefined;
  if (!row.on_disk) {
    const data = await getBlob(q, hash);
    return data ? { size: data.byteLength, body: data } : undefined;
  }
  const files = filesOf(q);
  if (!files) throw noDirectory(hash);
  const body = await files.stream(hash);
  return body ? { size: row.size, body } : undefined;
}

export async function blobSizes(q: Queryable, hashes: readonly string[]): Promise<Map<string, number>> {
  if (hashes.length === 0) return new Map();
  const rows = await q.query<{ hash: string; size: number }>(
    `SELECT hash, size FROM blobs WHERE hash IN (SELECT value FROM jsonb_array_elements_text($1::jsonb))`,
    [JSON.stringify(hashes)],
  );
  return new Map(rows.map((r) => [r.hash, r.size]));
}

/**
 * Moves blobs whose bytes are still in the database into files, one at a time (so memory holds
 * one blob at most); returns how many moved. Each row is switched only if still in the database.
 */
export async function moveBlobsToDisk(db: BlobDb): Promise<number> {
  let moved = 0;
  for (;;) {
    const [row] = await db.query<{ hash: string; data: Uint8Array }>(
      `SELECT hash, data FROM blobs WHERE NOT on_disk LIMIT 1`,
    );
    if (!row) return moved;
    await db.blobFiles.write(row.hash, row.data);
    await db.query(`UPDATE blobs SET data = NULL, on_disk = true WHERE hash = $1 AND NOT on_disk`, [
      row.hash,
    ]);
    moved++;
  }
}
