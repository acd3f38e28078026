// `.slice` files (spec/compute-market.md "Slice Files and Hashing"): raw byte blobs whose proof is
// the BLAKE3 of their contents, as the reference runner computes it. Read as a stream, so a big
// file is never held in memory. With slices, the file is also treated as the input of a
// transcode/gpuhash job: its 1 MiB slice proofs and their Merkle root (the job's result_hash).

import { createReadStream } from 'node:fs';
import { blake3 } from '@noble/hashes/blake3.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { proofRoot } from '../domain/merkle.js';
import { SLICE_BYTES } from '../domain/work.js';

export interface SliceFileReport {
  file: string;
  bytes: number;
  /** BLAKE3 of the whole file. */
  proof: string;
  /** BLAKE3 of each 1 MiB range (one empty slice for an empty file). */
  slices: string[];
  /** Merkle root of `slices`: what a worker reports as the job's result_hash. */
  result_hash: string;
}

export async function hashSliceFile(file: string): Promise<SliceFileReport> {
  const whole = blake3.create();
  const slices: string[] = [];
  let slice = blake3.create();
  let inSlice = 0;
  let bytes = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>) {
    whole.update(chunk);
    bytes += chunk.length;
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(SLICE_BYTES - inSlice, chunk.length - offset);
      slice.update(chunk.subarray(offset, offset + take));
      inSlice += take;
      offset += take;
      if (inSlice === SLICE_BYTES) {
        slices.push(bytesToHex(slice.digest()));
        slice = blake3.create();
        inSlice = 0;
      }
    }
  }
  if (inSlice > 0 || slices.length === 0) slices.push(bytesToHex(slice.digest()));
  return { file, bytes, proof: bytesToHex(whole.digest()), slices, result_hash: proofRoot(slices) };
}
