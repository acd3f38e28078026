// Content hashes: BLAKE3, lowercase hex. Slice proofs and blob addresses are BLAKE3 of bytes.

import { blake3 } from '@noble/hashes/blake3.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { blake3 as blake3Wasm } from 'hash-wasm';

/** Synchronous BLAKE3, for small inputs (proofs, messages). */
export function blake3Hex(bytes: Uint8Array): string {
  return bytesToHex(blake3(bytes));
}

/** BLAKE3 in WebAssembly, about ten times faster: for blobs and slices of input. */
export function blake3HexLarge(bytes: Uint8Array): Promise<string> {
  return blake3Wasm(bytes);
}

const encoder = new TextEncoder();

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}
