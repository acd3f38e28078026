// Blob files: the bytes of blobs, one file per blob, named by its BLAKE3 hash, under the blob
// directory (`<data_dir>/blobs` unless `blob_dir` says otherwise). The database keeps only what a
// blob is (hash, size, owner, created_at, on_disk); src/store/blobs.ts writes both.
//
//   blobs/
//     tmp/<uuid>          an upload being written (0600); renamed when complete, else removed
//     ab/<abcd…64 hex>    a complete blob (0600), in a folder per first byte of its hash (0700)
//
// A file is renamed into place only once its bytes are flushed and its hash known, so a name
// under a hash folder always holds exactly those bytes. What a crash leaves behind (a partial
// upload in tmp/, a renamed file whose row was never committed) is removed by sweep() at start.

import { randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, statSync, type ReadStream } from 'node:fs';
import { open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Queryable } from './db.js';

const HASH = /^[0-9a-f]{64}$/;
/** Files in a shared blob directory younger than this may be another node's work in progress. */
const SHARED_GRACE_MS = 3_600_000;
const SWEEP_BATCH = 1000;

export interface SweepReport {
  partial: number;
  orphaned: number;
}

export class BlobFiles {
  private readonly tmp: string;

  /**
   * `shared`: other nodes may write into this directory too (a `blob_dir` several nodes mount), so
   * the start-up sweep leaves recent files alone instead of taking everything unfinished as
   * garbage.
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
   * Start-up clean-up: partial uploads in tmp/ and files no committed row points at (a crash
   * between the rename and the insert). In a shared directory only files untouched for an hour go.
   */
  async sweep(q: Queryable, nowMs: number): Promise<SweepReport> {
    const report: SweepReport = { partial: 0, orphaned: 0 };
    const old = async (path: string) => !this.shared || nowMs - (await stat(path)).mtimeMs > SHARED_GRACE_MS;
    for (const name of await readdir(this.tmp)) {
      const path = join(this.tmp, name);
      if (await old(path)) {
        await rm(path, { force: true, recursive: true });
        report.partial++;
      }
    }
    for (const shard of await readdir(this.dir)) {
      if (!/^[0-9a-f]{2}$/.test(shard)) continue;
      const names = (await readdir(join(this.dir, shard))).filter((n) => HASH.test(n));
      for (let i = 0; i < names.length; i += SWEEP_BATCH) {
        const batch = names.slice(i, i + SWEEP_BATCH);
        const rows = await q.query<{ hash: string }>(
          `SELECT hash FROM blobs WHERE on_disk AND hash IN (SELECT value FROM jsonb_array_elements_text($1::jsonb))`,
          [JSON.stringify(batch)],
        );
        const known = new Set(rows.map((r) => r.hash));
        for (const name of batch) {
          const path = join(this.dir, shard, name);
          if (known.has(name) || !(await old(path))) continue;
          await unlink(path);
          report.orphaned++;
        }
      }
    }
    return report;
  }
}
