// Blob files: the bytes of blobs, one file per blob, named by its BLAKE3 hash, under the blob
// directory (`<data_dir>/blobs` unless `blob_dir` says otherwise). The database keeps only what a
// blob is (hash, size, owner, created_at_ms, on_disk); src/store/blobs.ts writes both.
//
//   blobs/
//     tmp/<uuid>          an upload being written (0600); renamed when complete, else removed
//     ab/<abcd…64 hex>    a complete blob (0600), in a folder per first byte of its hash (0700)
//
// A file is renamed into place only once its bytes are flushed and its hash known, so a name
// under a hash folder always holds exactly those bytes. What a crash leaves behind is cleaned up
// in two ways: partial uploads in tmp/ by sweepPartial() at start (one folder, read at once);
// renamed files whose row was never committed by sweepOrphans(), one hash folder at a time, from a
// background loop (src/market/blobs.ts), so a start never reads every folder of a large store.

import { randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, statSync, type ReadStream } from 'node:fs';
import { open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Queryable } from './db.js';

const HASH = /^[0-9a-f]{64}$/;
/**
 * Files younger than this may be work in progress: in a shared blob directory another node's
 * upload, and in the hash folders of a running node a file renamed into place whose row is being
 * inserted right now (so the orphan sweep, which runs while uploads do, always waits this long).
 */
const GRACE_MS = 3_600_000;
/** File names checked against the database in one query. */
const SWEEP_BATCH = 1000;
const SHARD = /^[0-9a-f]{2}$/;

export class BlobFiles {
  private readonly tmp: string;

  /**
   * `shared`: other nodes may write into this directory too (a `blob_dir` several nodes mount), so
   * the start-up sweep of tmp/ leaves recent files alone instead of taking everything unfinished
   * as garbage.
   */
  constructor(
    readonly dir: string,
    readonly shared = false,
  ) {
    this.tmp = join(dir, 'tmp');
    for (const d of [dir, this.tmp]) {
      mkdirSync(d, { recursive: true, mode: 0o700 });
      const { mode } = statSync(d);
      if ((mode & 0o077) !== 0) chmodSync(d, mode & 0o700);
    }
  }

  /** Where a complete blob lives. */
  pathOf(hash: string): string {
    if (!HASH.test(hash)) throw new Error(`not a blob hash: ${hash}`);
    return join(this.dir, hash.slice(0, 2), hash);
  }

  /** A fresh name for an upload in progress (the caller creates it 0600 with flag 'wx'). */
  tempPath(): string {
    return join(this.tmp, randomUUID());
  }

  /**
   * Moves a written and flushed temporary file to its hash's name. The same bytes already there
   * (a second upload) are simply replaced: the content is identical by construction.
   */
  async commit(tempPath: string, hash: string): Promise<void> {
    const path = this.pathOf(hash);
    mkdirSync(join(this.dir, hash.slice(0, 2)), { recursive: true, mode: 0o700 });
    await rename(tempPath, path);
  }

  /** Removes a temporary file that will not be committed (an upload refused or cut off). */
  async discard(tempPath: string): Promise<void> {
    await rm(tempPath, { force: true });
  }

  /** Writes bytes already in memory (a job's output artifact) under their hash. */
  async write(hash: string, bytes: Uint8Array): Promise<void> {
    const temp = this.tempPath();
    const file = await open(temp, 'wx', 0o600);
    try {
      await file.writeFile(bytes);
      await file.datasync();
    } catch (err) {
      await file.close();
      await this.discard(temp);
      throw err;
    }
    await file.close();
    await this.commit(temp, hash);
  }

  async has(hash: string): Promise<boolean> {
    try {
      await stat(this.pathOf(hash));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  /** A blob's bytes, or undefined when its file is missing. */
  async read(hash: string): Promise<Uint8Array | undefined> {
    try {
      return await readFile(this.pathOf(hash));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /**
   * A stream of a blob's bytes, or undefined when its file is missing. The file is opened here,
   * so a missing one is known before anything is answered.
   */
  async stream(hash: string): Promise<ReadStream | undefined> {
    try {
      const handle = await open(this.pathOf(hash), 'r');
      return handle.createReadStream();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /**
   * Start-up clean-up of partial uploads in tmp/: every file there, since no upload of this node
   * is in flight yet; in a shared directory only files untouched for an hour. Returns how many.
   */
  async sweepPartial(nowMs: number): Promise<number> {
    let removed = 0;
    for (const name of await readdir(this.tmp)) {
      const path = join(this.tmp, name);
      if (!this.shared || (await this.untouchedFor(path, nowMs))) {
        await rm(path, { force: true, recursive: true });
        removed++;
      }
    }
    return removed;
  }

  /** The hash folders (`00`…`ff`) that exist, in order. */
  async shards(): Promise<string[]> {
    return (await readdir(this.dir)).filter((n) => SHARD.test(n)).sort();
  }

  /**
   * Removes the files of one hash folder that no committed row names (a crash between the rename
   * and the insert) and that are untouched for an hour; returns how many. Runs while the node
   * serves: a file renamed a moment ago may have its row inserted right now, hence the hour.
   */
  async sweepOrphans(q: Queryable, shard: string, nowMs: number): Promise<number> {
    if (!SHARD.test(shard)) throw new Error(`not a blob folder: ${shard}`);
    let names: string[];
    try {
      names = (await readdir(join(this.dir, shard))).filter((n) => HASH.test(n));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw err;
    }
    let removed = 0;
    for (let i = 0; i < names.length; i += SWEEP_BATCH) {
      const batch = names.slice(i, i + SWEEP_BATCH);
      const rows = await q.query<{ hash: string }>(
        `SELECT hash FROM blobs WHERE on_disk AND hash IN (SELECT value FROM jsonb_array_elements_text($1::jsonb))`,
        [JSON.stringify(batch)],
      );
      const known = new Set(rows.map((r) => r.hash));
      for (const name of batch) {
        const path = join(this.dir, shard, name);
        if (known.has(name) || !(await this.untouchedFor(path, nowMs))) continue;
        await rm(path, { force: true });
        removed++;
      }
    }
    return removed;
  }

  /** Whether the file is older than the grace period (false once it is gone). */
  private async untouchedFor(path: string, nowMs: number): Promise<boolean> {
    try {
      return nowMs - (await stat(path)).mtimeMs > GRACE_MS;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }
}
