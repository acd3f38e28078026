// Blobs as the API sees them: an upload taken in as it streams (hashed with BLAKE3 chunk by
// chunk, cut off at the size limit the moment it is passed) and a download by hash.
//
// Blobs live in one bytea column, so the bytes of one upload are held once, in the chunks that
// arrived, until the row is written; the API caps concurrent uploads per account so that the
// memory an account can pin is bounded by cap × blob_max_bytes.

import { createBLAKE3 } from 'hash-wasm';
import { unixSeconds } from '../domain/clock.js';
import { MarketError } from '../domain/errors.js';
import { getBlob, putBlob } from '../store/providers.js';
import type { Market } from './market.js';

export interface BlobRef {
  hash: string;
  size: number;
}

/**
 * Reads an upload to its end, hashing as it goes, and stores it under its hash (a second upload
 * of the same bytes is a no-op). More than `maxBytes` is `payload_too_large` at once: the rest is
 * never read. With the length announced (Content-Length) the bytes are copied once into a buffer
 * of that size as they arrive; without it they are joined at the end.
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
  const hasher = await createBLAKE3();
  hasher.init();
  const into = announcedBytes === undefined ? undefined : Buffer.allocUnsafe(announcedBytes);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    if (size + chunk.byteLength > (into?.byteLength ?? maxBytes)) throw tooLarge();
    hasher.update(chunk);
    if (into) into.set(chunk, size);
    else chunks.push(chunk);
    size += chunk.byteLength;
  }
  const hash = hasher.digest('hex');
  const bytes = into ? into.subarray(0, size) : Buffer.concat(chunks, size);
  chunks.length = 0;
  await putBlob(market.db, hash, bytes, owner, unixSeconds(market.clock));
  return { hash, size };
}

/** A blob's bytes, or undefined. */
export function readBlob(market: Market, hash: string): Promise<Uint8Array | undefined> {
  return getBlob(market.db, hash);
}
