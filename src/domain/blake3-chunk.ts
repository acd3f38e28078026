// BLAKE3 of a message of at most one chunk (1,024 bytes), which is what the market hashes per
// result and per task: Merkle nodes (64 bytes), result leaves, receipt keys. Such a message is one
// chunk whose blocks are compressed in turn, the last as the root, so the general tree (chunk
// counters, parent nodes) never comes in. @noble/hashes' blake3 builds a hasher object per call,
// ~25 µs for 100 bytes on the loaded dev box; this keeps its state in two preallocated arrays and
// takes ~2 µs. The output is BLAKE3's, byte for byte (test/domain/blake3-chunk.test.ts compares
// it with noble's on every length up to a chunk); longer messages go to noble.

import { blake3 as nobleBlake3 } from '@noble/hashes/blake3.js';

export const CHUNK_BYTES = 1024;

const IV = new Uint32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);
const CHUNK_START = 1;
const CHUNK_END = 2;
const ROOT = 8;

/** The message word each of a round's 16 G inputs takes, per round (the permutation applied in advance). */
const SCHEDULE: Uint8Array[] = (() => {
  const permutation = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];
  const rounds: Uint8Array[] = [];
  let order = Array.from({ length: 16 }, (_, i) => i);
  for (let r = 0; r < 7; r++) {
    rounds.push(Uint8Array.from(order));
    order = permutation.map((p) => order[p] as number);
  }
  return rounds;
})();

const block = new Uint32Array(16);
const blockBytes = new Uint8Array(block.buffer);
const cv = new Uint32Array(8);
const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * BLAKE3's compression of `block` into `cv` (chunk counter 0), keeping the first half of the
 * output: the next chaining value, or the hash when `flags` has ROOT. The state lives in locals
 * (what V8 keeps in registers); the seven rounds take the message words in SCHEDULE's order.
 */
function compress(blockLen: number, flags: number): void {
  let v0 = cv[0] as number,
    v1 = cv[1] as number,
    v2 = cv[2] as number,
    v3 = cv[3] as number;
  let v4 = cv[4] as number,
    v5 = cv[5] as number,
    v6 = cv[6] as number,
    v7 = cv[7] as number;
  let v8 = IV[0] as number,
    v9 = IV[1] as number,
    v10 = IV[2] as number,
    v11 = IV[3] as number;
  let v12 = 0,
    v13 = 0,
    v14 = blockLen,
    v15 = flags;
  let t: number;
  const m = block;
  for (let r = 0; r < 7; r++) {
    const s = SCHEDULE[r] as Uint8Array;
    // Columns.
    v0 = (v0 + v4 + (m[s[0] as number] as number)) | 0;
    t = v12 ^ v0;
    v12 = (t >>> 16) | (t << 16);
    v8 = (v8 + v12) | 0;
    t = v4 ^ v8;
    v4 = (t >>> 12) | (t << 20);
    v0 = (v0 + v4 + (m[s[1] as number] as number)) | 0;
    t = v12 ^ v0;
    v12 = (t >>> 8) | (t << 24);
    v8 = (v8 + v12) | 0;
    t = v4 ^ v8;
    v4 = (t >>> 7) | (t << 25);
    v1 = (v1 + v5 + (m[s[2] as number] as number)) | 0;
    t = v13 ^ v1;
    v13 = (t >>> 16) | (t << 16);
    v9 = (v9 + v13) | 0;
    t = v5 ^ v9;
    v5 = (t >>> 12) | (t << 20);
    v1 = (v1 + v5 + (m[s[3] as number] as number)) | 0;
    t = v13 ^ v1;
    v13 = (t >>> 8) | (t << 24);
    v9 = (v9 + v13) | 0;
    t = v5 ^ v9;
    v5 = (t >>> 7) | (t << 25);
    v2 = (v2 + v6 + (m[s[4] as number] as number)) | 0;
    t = v14 ^ v2;
    v14 = (t >>> 16) | (t << 16);
    v10 = (v10 + v14) | 0;
    t = v6 ^ v10;
    v6 = (t >>> 12) | (t << 20);
    v2 = (v2 + v6 + (m[s[5] as number] as number)) | 0;
    t = v14 ^ v2;
    v14 = (t >>> 8) | (t << 24);
    v10 = (v10 + v14) | 0;
    t = v6 ^ v10;
    v6 = (t >>> 7) | (t << 25);
    v3 = (v3 + v7 + (m[s[6] as number] as number)) | 0;
    t = v15 ^ v3;
    v15 = (t >>> 16) | (t << 16);
    v11 = (v11 + v15) | 0;
    t = v7 ^ v11;
    v7 = (t >>> 12) | (t << 20);
    v3 = (v3 + v7 + (m[s[7] as number] as number)) | 0;
    t = v15 ^ v3;
    v15 = (t >>> 8) | (t << 24);
    v11 = (v11 + v15) | 0;
    t = v7 ^ v11;
    v7 = (t >>> 7) | (t << 25);
    // Diagonals.
    v0 = (v0 + v5 + (m[s[8] as number] as number)) | 0;
    t = v15 ^ v0;
    v15 = (t >>> 16) | (t << 16);
    v10 = (v10 + v15) | 0;
    t = v5 ^ v10;
    v5 = (t >>> 12) | (t << 20);
    v0 = (v0 + v5 + (m[s[9] as number] as number)) | 0;
    t = v15 ^ v0;
    v15 = (t >>> 8) | (t << 24);
    v10 = (v10 + v15) | 0;
    t = v5 ^ v10;
    v5 = (t >>> 7) | (t << 25);
    v1 = (v1 + v6 + (m[s[10] as number] as number)) | 0;
    t = v12 ^ v1;
    v12 = (t >>> 16) | (t << 16);
    v11 = (v11 + v12) | 0;
    t = v6 ^ v11;
    v6 = (t >>> 12) | (t << 20);
    v1 = (v1 + v6 + (m[s[11] as number] as number)) | 0;
    t = v12 ^ v1;
    v12 = (t >>> 8) | (t << 24);
    v11 = (v11 + v12) | 0;
    t = v6 ^ v11;
    v6 = (t >>> 7) | (t << 25);
    v2 = (v2 + v7 + (m[s[12] as number] as number)) | 0;
    t = v13 ^ v2;
    v13 = (t >>> 16) | (t << 16);
    v8 = (v8 + v13) | 0;
    t = v7 ^ v8;
    v7 = (t >>> 12) | (t << 20);
    v2 = (v2 + v7 + (m[s[13] as number] as number)) | 0;
    t = v13 ^ v2;
    v13 = (t >>> 8) | (t << 24);
    v8 = (v8 + v13) | 0;
    t = v7 ^ v8;
    v7 = (t >>> 7) | (t << 25);
    v3 = (v3 + v4 + (m[s[14] as number] as number)) | 0;
    t = v14 ^ v3;
    v14 = (t >>> 16) | (t << 16);
    v9 = (v9 + v14) | 0;
    t = v4 ^ v9;
    v4 = (t >>> 12) | (t << 20);
    v3 = (v3 + v4 + (m[s[15] as number] as number)) | 0;
    t = v14 ^ v3;
    v14 = (t >>> 8) | (t << 24);
    v9 = (v9 + v14) | 0;
    t = v4 ^ v9;
    v4 = (t >>> 7) | (t << 25);
  }
  cv[0] = v0 ^ v8;
  cv[1] = v1 ^ v9;
  cv[2] = v2 ^ v10;
  cv[3] = v3 ^ v11;
  cv[4] = v4 ^ v12;
  cv[5] = v5 ^ v13;
  cv[6] = v6 ^ v14;
  cv[7] = v7 ^ v15;
}

/** The 32-byte BLAKE3 hash of `message`. */
export function blake3(message: Uint8Array): Uint8Array {
  if (message.length > CHUNK_BYTES || !littleEndian) return nobleBlake3(message);
  cv.set(IV);
  const blocks = Math.max(1, Math.ceil(message.length / 64));
  for (let b = 0; b < blocks; b++) {
    const start = b * 64;
    const len = Math.min(64, message.length - start);
    if (len < 64) blockBytes.fill(0);
    blockBytes.set(message.subarray(start, start + len));
    const last = b === blocks - 1;
    compress(len, (b === 0 ? CHUNK_START : 0) | (last ? CHUNK_END | ROOT : 0));
  }
  return new Uint8Array(cv.buffer.slice(0));
}
