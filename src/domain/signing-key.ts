// A secp256k1 key held for signing many chain transactions (the courier seals hundreds per
// flush). Deriving the public key and the `cpc1…` address is a scalar multiplication and two
// hashes; done per transaction it cost as much as one of the transaction's two signatures, so a
// SigningKey derives them once. Signing is identity.signMessage itself, so the signatures are the
// same bytes (RFC 6979 deterministic, compact r||s, low-S) whichever way a transaction is signed.

import { secp256k1 } from '@noble/curves/secp256k1.js';
import { addressFromPublicKey, publicKeyFromPrivate, rememberOwnSignature, signMessage } from './identity.js';

export class SigningKey {
  /** 33-byte compressed public key, lowercase hex. */
  readonly publicKey: string;
  readonly address: string;
  // A #private field: the key stays out of JSON.stringify, structured logs and inspection.
  readonly #privateKey: string;

  /** Throws when `privateKeyHex` is not 64 lowercase hex characters of a valid scalar. */
  constructor(privateKeyHex: string) {
    this.publicKey = publicKeyFromPrivate(privateKeyHex);
    this.address = addressFromPublicKey(this.publicKey);
    this.#privateKey = privateKeyHex;
  }

  /** signMessage with this key: SHA-256 of `message`, deterministic, compact low-S, hex. */
  sign(message: Uint8Array): string {
    const signature = signMessage(this.#privateKey, message);
    rememberOwnSignature(this.publicKey, message, signature);
    return signature;
  }
}

/**
 * Window of the base-point table after largeBaseTable(): 49 table additions per (blinded)
 * multiplication instead of the library default's 65 (W = 6), for about 4 MiB of heap built in
 * ~0.15 s. Wider windows measured no clearly better on the dev box (W = 10: 10 MiB, W = 12: 32 MiB).
 */
export const LARGE_BASE_WINDOW = 8;
let largeTable = false;

/**
 * Widens the process's secp256k1 base-point table (noble `Point.BASE.precompute`), once; for a
 * process that signs continuously. Only speed changes: the table holds multiples of the base
 * point, so every key, signature and nonce k stays the same. Built on the next multiplication.
 */
export function largeBaseTable(): void {
  if (largeTable) return;
  largeTable = true;
  secp256k1.Point.BASE.precompute(LARGE_BASE_WINDOW);
}
