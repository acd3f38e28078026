// The courier's signing key: the same signatures as signMessage (deterministic RFC 6979, compact,
// low-S) before and after the wider base-point table, and nothing of the private key on show.

import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import fc from 'fast-check';
import { inspect } from 'node:util';
import { expect, it } from 'vitest';
import {
  addressFromPublicKey,
  publicKeyFromPrivate,
  signMessage,
  verifySignature,
} from '../../src/domain/identity.js';
import { largeBaseTable, SigningKey } from '../../src/domain/signing-key.js';

const KEY = (0xc0ffee).toString(16).padStart(64, '0');
const scalar = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .filter((b) => secp256k1.utils.isValidSecretKey(b))
  .map(bytesToHex);

function sameAsSignMessage(runs: number) {
  fc.assert(
    fc.property(scalar, fc.uint8Array({ maxLength: 300 }), (priv, message) => {
      const key = new SigningKey(priv);
      expect(key.publicKey).toBe(publicKeyFromPrivate(priv));
      expect(key.address).toBe(addressFromPublicKey(key.publicKey));
      const sig = key.sign(message);
      expect(sig).toBe(signMessage(priv, message));
      expect(verifySignature(key.publicKey, message, sig)).toBe(true);
    }),
    { numRuns: runs },
  );
}

it('derives the public key and address once and signs exactly as signMessage', () => {
  sameAsSignMessage(40);
});

it('signs the same bytes with the wider base-point table (it changes speed only)', () => {
  const message = new TextEncoder().encode('pinned');
  const before = new SigningKey(KEY).sign(message);
  largeBaseTable();
  largeBaseTable(); // a second call builds nothing again
  expect(new SigningKey(KEY).sign(message)).toBe(before);
  sameAsSignMessage(40);
});

it('keeps the private key out of JSON and inspection', () => {
  const key = new SigningKey(KEY);
  expect(JSON.stringify(key)).not.toContain(KEY);
  expect(inspect(key, { showHidden: true, depth: 5 })).not.toContain(KEY);
  expect(Object.values(key)).not.toContain(KEY);
});

it('refuses a key that is not a valid scalar', () => {
  expect(() => new SigningKey('00'.repeat(32))).toThrow(/valid secp256k1/);
  expect(() => new SigningKey('xyz')).toThrow(/64 lowercase hex/);
});

it('answers for its own signatures as the curve does: valid for its key and message, for nothing else', () => {
  const key = new SigningKey(KEY);
  const other = new SigningKey((0xbeef).toString(16).padStart(64, '0'));
  const message = new TextEncoder().encode('a chain transaction');
  const sig = key.sign(message);
  expect(verifySignature(key.publicKey, message, sig)).toBe(true);
  expect(verifySignature(key.publicKey, message, sig, { highS: true })).toBe(true);
  expect(verifySignature(other.publicKey, message, sig)).toBe(false);
  expect(verifySignature(key.publicKey, new TextEncoder().encode('another'), sig)).toBe(false);
  // Its high-S twin is refused unless asked for, like any signature.
  const n = secp256k1.Point.CURVE().n;
  const twin = sig.slice(0, 64) + (n - BigInt(`0x${sig.slice(64)}`)).toString(16).padStart(64, '0');
  expect(verifySignature(key.publicKey, message, twin)).toBe(false);
  expect(verifySignature(key.publicKey, message, twin, { highS: true })).toBe(true);
});
