// Content hashes: BLAKE3, lowercase hex. Slice proofs and blob addresses are BLAKE3 of bytes.

import { blake3 } from '@noble/hashes/blake3.js';
import { bytesToHex } from '@noble/hashes/utils.js';

export function blake3Hex(bytes: Uint8Array): string {
  return bytesToHex(blake3(bytes));
}

const encoder = new TextEncoder();

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}
