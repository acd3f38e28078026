// Blobs as the API sees them: an upload taken in as it streams (hashed with BLAKE3 chunk by
// chunk, written to a temporary file, cut off at the size limit the moment it is passed, renamed
// to its hash's name when complete) and a download streamed from its file.
//
// Nothing holds a whole upload in memory: the bytes in flight are the chunks between the socket
// and the file, so concurrent uploads cost file space, not RSS. The per-account cap on uploads in
// flight (`blob_uploads_per_account`, enforced by the route) bounds the temporary space.

import { createWriteStream } from 'node:fs';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createBLAKE3 } from 'hash-wasm';
import { MarketError } from '../domain/errors.js';
import type { Config } from './config.js';
import { BlobFiles } from '../store/blob-files.js';
import { moveBlobsToDisk, openBlob, recordBlobFile, type BlobBody } from '../store/blobs.js';
import type { Market } from './market.js';

export interface BlobRef {
  hash: string;
  size: number;
}

/**
 * The node's blob directory: `blob_dir`, or `blobs` in the data directory. A directory named in
 * the configuration may be shared by several nodes (on one database they must share it); the
 * default one is this node's alone.
 */
export function blobFilesFor(config: Config): BlobFiles {
  return config.blob_dir
    ? new BlobFiles(resolve(config.blob_dir), true)
    : new BlobFiles(join(config.data_dir, 'blobs'), false);
}

/**
 * Reads an upload to its end, hashing and writing it to a temporary file as it goes, and stores
 * it under its hash (a second upload of the same bytes replaces the file with the same bytes).
 * More than `maxBytes` (or than the announced length) is `payload_too_large` at once: the rest is
 * never read, and the temporary file is removed whatever goes wrong.
 */
export async function receiveBlob(
  market: Market,
  body: AsyncIterable<Uint8Array>,
  owner: string | null,
  maxBytes: number,
  announcedBytes?: number,
): Promise<BlobRef> {
  const tooLarge = () =>
    new MarketError('payload_too_large', `a blob may be at most ${maxBytes} bytes`, {
      limit_bytes: maxBytes,
    });
  if (announcedBytes !== undefined && announcedBytes > maxBytes) throw tooLarge();
  const limit = announcedBytes ?? maxBytes;
  const { db } = market;
  const hasher = await createBLAKE3();
  hasher.init();
  let size = 0;
  const temp = db.blobFiles.tempPath();
  try {
    await pipeline(
      body,
      async function* (chunks: AsyncIterable<Uint8Array>) {
        for await (const chunk of chunks) {
          if (size + chunk.byteLength > limit) throw tooLarge();
          hasher.update(chunk);
          size += chunk.byteLength;
          yield chunk;
        }
      },
      createWriteStream(temp, { flags: 'wx', mode: 0o600, flush: true }),
    );
    const hash = hasher.digest('hex');
    await db.blobFiles.commit(temp, hash);
    await recordBlobFile(db, hash, size, owner, market.clock.nowMs());
    return { hash, size };
  } finally {
    await db.blobFiles.discard(temp);
  }
}

/** A blob to send (its size and a stream of its bytes), or undefined. */
export function sendableBlob(market: Market, hash: string): Promise<BlobBody | undefined> {
  return openBlob(market.db, hash);
}

/**
 * Start-up: removes partial uploads a crash left in tmp/, then moves blobs still kept in the
 * database (rows from before migration 0040) to files. Files of rows never committed are left to
 * the OrphanSweep, which reads the hash folders a little at a time while the node serves.
 */
export async function tidyBlobs(market: Market): Promise<void> {
  const { db, logger } = market;
  const partial = await db.blobFiles.sweepPartial(market.clock.nowMs());
  if (partial > 0) logger.info({ partial }, 'blob directory: partial uploads removed');
  const moved = await moveBlobsToDisk(db);
  if (moved > 0) logger.info({ blobs: moved }, 'blobs moved from the database to the blob directory');
}

/**
 * Removes blob files no row names (a crash between the rename and the insert) one hash folder
 * per tick (`blob_sweep_interval_ms`), so a large store costs a start nothing and a running node
 * one folder's listing now and then: with 256 folders and the default 10 s, a full pass takes
 * about 43 minutes. The list of folders is read again at the start of each pass.
 */
export class OrphanSweep {
  private pass: string[] = [];
  private current: Promise<number> | undefined;

  constructor(private readonly market: Market) {}

  /** Sweeps the next folder; returns the files removed (a tick still running is joined). */
  tick(): Promise<number> {
    this.current ??= this.sweepNext().finally(() => (this.current = undefined));
    return this.current;
  }

  /** Resolves once no tick is running (before the database closes). */
  async idle(): Promise<void> {
    await this.current?.catch(() => {});
  }

  private async sweepNext(): Promise<number> {
    const { db, logger } = this.market;
    if (this.pass.length === 0) this.pass = await db.blobFiles.shards();
    const shard = this.pass.shift();
    if (shard === undefined) return 0;
    const orphaned = await db.blobFiles.sweepOrphans(db, shard, this.market.clock.nowMs());
    if (orphaned > 0) logger.info({ orphaned, folder: shard }, 'blob directory: files no row names removed');
    return orphaned;
  }
}
