// CPC chain identity: secp256k1 keys, `cpc1…` addresses, message signatures and the wallet key
// file. An address is bech32 (BIP-173 checksum, not bech32m, and no witness-version byte) with
// prefix `cpc` of RIPEMD160(SHA256(33-byte compressed public key)), as the chain derives it.
// Hex here is always lowercase without `0x`, so one key or address has exactly one spelling.

import { secp256k1 } from '@noble/curves/secp256k1.js';
import { ripemd160 } from '@noble/hashes/legacy.js';
import { sha256 } from '@noble/hashes/sha2.js';
import {
  bytesToHex,
  concatBytes,
  hexToBytes,
  randomBytes as cryptoRandomBytes,
} from '@noble/hashes/utils.js';
import { createECDH, createHash, createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { bech32 } from '@scure/base';

export const ADDRESS_PREFIX = 'cpc';

/** Bytes of an address payload: a RIPEMD-160 digest. */
const HASH160_BYTES = 20;

const PRIVATE_KEY_HEX = /^[0-9a-f]{64}$/;
const PUBLIC_KEY_HEX = /^0[23][0-9a-f]{64}$/;
const SIGNATURE_HEX = /^[0-9a-f]{128}$/;

/**
 * Signatures are over SHA-256 of the message (the curve's prehash), compact r||s, and low-S on
 * both sides: a high-S twin of a valid signature is refused so a signature cannot be re-spelled
 * (malleated) into a second valid one that a replay check would not recognise.
 */
const SIGNATURE_OPTS = { prehash: true, lowS: true, format: 'compact' } as const;

export interface KeyPair {
  privateKey: string;
  publicKey: string;
  address: string;
}

/** A source of random bytes; the default is the platform's CSPRNG (crypto.getRandomValues). */
export type RandomBytes = (length: number) => Uint8Array;

/**
 * Draws a new key pair. A draw that is not a valid scalar (zero or ≥ the curve order, about
 * 2^-128 likely) is thrown away and drawn again, so every 32-byte draw maps to at most one key.
 */
export function generateKeyPair(randomBytes: RandomBytes = cryptoRandomBytes): KeyPair {
  // A source that keeps producing invalid scalars is broken, not unlucky.
  for (let attempt = 0; attempt < 16; attempt++) {
    const secret = randomBytes(32);
    if (secret.length === 32 && secp256k1.utils.isValidSecretKey(secret)) {
      const privateKey = bytesToHex(secret);
      const publicKey = publicKeyFromPrivate(privateKey);
      return { privateKey, publicKey, address: addressFromPublicKey(publicKey) };
    }
  }
  throw new Error('the random source did not yield a valid secp256k1 private key');
}

/**
 * The 33-byte compressed public key (hex) of a private key (64 lowercase hex characters).
 * OpenSSL's multiplication (as verifySignature uses OpenSSL): noble's first multiplication in a
 * process builds its base-point table, 0.2–0.6 s that a starting node (its chain key, read or
 * made) would pay before it serves; the same point either way, and signing still builds it later.
 */
export function publicKeyFromPrivate(privateKeyHex: string): string {
  const ecdh = createECDH('secp256k1');
  ecdh.setPrivateKey(privateKeyBytes(privateKeyHex));
  return ecdh.getPublicKey('hex', 'compressed');
}

/** RIPEMD160(SHA256(bytes)): the 20-byte digest an address encodes. */
export function hash160(bytes: Uint8Array): Uint8Array {
  return ripemd160(sha256(bytes));
}

/** The `cpc1…` address of a compressed public key; throws on anything that is not one. */
export function addressFromPublicKey(publicKeyHex: string): string {
  return bech32.encode(ADDRESS_PREFIX, bech32.toWords(hash160(publicKeyBytes(publicKeyHex))));
}

/**
 * True for a lowercase `cpc1…` bech32 string with a valid BIP-173 checksum and a 20-byte
 * payload. Uppercase (which BIP-173 allows) is refused: addresses are compared as strings
 * everywhere, so a second spelling of one address would be a second identity. A bech32m
 * checksum fails the BIP-173 check, so bech32m strings are refused too.
 */
export function isValidAddress(address: unknown): address is string {
  if (typeof address !== 'string' || address !== address.toLowerCase()) return false;
  const decoded = bech32.decodeUnsafe(address);
  if (!decoded || decoded.prefix !== ADDRESS_PREFIX) return false;
  // fromWordsUnsafe also refuses non-zero padding bits, another second spelling.
  const payload = bech32.fromWordsUnsafe(decoded.words);
  return payload !== undefined && payload.length === HASH160_BYTES;
}

/** Signs SHA-256 of `message`; deterministic (RFC 6979), 64-byte compact low-S, lowercase hex. */
export function signMessage(privateKeyHex: string, message: Uint8Array): string {
  return bytesToHex(secp256k1.sign(message, privateKeyBytes(privateKeyHex), SIGNATURE_OPTS));
}

/**
 * Checks a signature made by signMessage. Any malformed input is simply `false`, never a throw.
 * Low-S only by default, as signMessage makes them (a second spelling of one signature is
 * refused). `highS: true` takes both spellings, as the CPC node does for transactions (it signs
 * with a random k and does not normalise s): chain transactions from others are checked so.
 */
export function verifySignature(
  publicKeyHex: string,
  message: Uint8Array,
  signatureHex: string,
  opts: { highS?: boolean } = {},
): boolean {
  if (typeof publicKeyHex !== 'string' || !PUBLIC_KEY_HEX.test(publicKeyHex)) return false;
  if (typeof signatureHex !== 'string' || !SIGNATURE_HEX.test(signatureHex)) return false;
  if (!(message instanceof Uint8Array)) return false;
  if (!opts.highS && BigInt(`0x${signatureHex.slice(64)}`) > HALF_ORDER) return false;
  const own = ownSignatures.get(signatureHex);
  if (own !== undefined && own === ownSignatureKey(publicKeyHex, message)) return true;
  try {
    // OpenSSL verifies about five times faster than the JavaScript curve; results arrive by the thousand.
    return nodeVerify(
      'sha256',
      message,
      { key: publicKeyObject(publicKeyHex), dsaEncoding: 'ieee-p1363' },
      hexToBytes(signatureHex),
    );
  } catch {
    // Points off the curve and out-of-range r or s land here.
    return false;
  }
}

const HALF_ORDER = secp256k1.Point.CURVE().n >> 1n;

/**
 * Signatures this process made with a SigningKey (the courier's chain transactions), by signature,
 * to the key and message digest they were made over. The in-process dev chain checks every
 * transaction the courier just signed, ~0.25–0.5 ms of curve arithmetic each; a signature found
 * here with the same key and message is valid by construction (ECDSA verifies what it signs), so
 * verifySignature answers true without the arithmetic, and the answer is the one the arithmetic
 * would give. Anything else, any other key or message, is verified as before. Bounded: the
 * oldest entries go first, and a forgotten one is merely verified the long way.
 */
const ownSignatures = new Map<string, string>();
const OWN_SIGNATURES_MAX = 4096;

function ownSignatureKey(publicKeyHex: string, message: Uint8Array): string {
  return `${publicKeyHex}:${createHash('sha256').update(message).digest('hex')}`;
}

/** Records a signature this process made (SigningKey.sign), so verifying it again is a lookup. */
export function rememberOwnSignature(publicKeyHex: string, message: Uint8Array, signatureHex: string): void {
  if (ownSignatures.size >= OWN_SIGNATURES_MAX)
    ownSignatures.delete(ownSignatures.keys().next().value as string);
  ownSignatures.set(signatureHex, ownSignatureKey(publicKeyHex, message));
}
/** SubjectPublicKeyInfo header for a compressed secp256k1 key: the key's 33 bytes follow. */
const SPKI_PREFIX = hexToBytes('3036301006072a8648ce3d020106052b8104000a032200');
const keyObjects = new Map<string, KeyObject>();

function publicKeyObject(publicKeyHex: string): KeyObject {
  let key = keyObjects.get(publicKeyHex);
  if (!key) {
    key = createPublicKey({
      key: Buffer.from(concatBytes(SPKI_PREFIX, hexToBytes(publicKeyHex))),
      format: 'der',
      type: 'spki',
    });
    if (keyObjects.size >= 10_000) keyObjects.clear();
    keyObjects.set(publicKeyHex, key);
  }
  return key;
}

/** The wallet key file: one key pair with a name, as `taskmarket wallet` writes it. */
export interface KeyFile {
  name: string;
  address: string;
  public_key: string;
  private_key: string;
  /** Unix seconds. */
  created_at: number;
}

/** Builds the key file of a private key; `createdAt` comes from the caller's clock. */
export function keyFileFor(name: string, privateKeyHex: string, createdAt: number): KeyFile {
  const publicKey = publicKeyFromPrivate(privateKeyHex);
  return {
    name,
    address: addressFromPublicKey(publicKey),
    public_key: publicKey,
    private_key: privateKeyHex,
    created_at: createdAt,
  };
}

/**
 * Validates a parsed key file: its shape, and that `public_key` and `address` are the ones
 * `private_key` derives, so a hand-edited or mixed-up file is caught before it signs anything.
 * Throws an Error naming the first problem; the message never contains the private key.
 */
export function parseKeyFile(json: unknown): KeyFile {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new Error('key file: must be a JSON object');
  const o = json as Record<string, unknown>;
  const name = o.name;
  if (typeof name !== 'string' || name.length === 0)
    throw new Error('key file: name must be a non-empty string');
  const privateKey = o.private_key;
  if (typeof privateKey !== 'string' || !PRIVATE_KEY_HEX.test(privateKey))
    throw new Error('key file: private_key must be 64 lowercase hex characters');
  if (!secp256k1.utils.isValidSecretKey(hexToBytes(privateKey)))
    throw new Error('key file: private_key is not a valid secp256k1 private key');
  const publicKey = o.public_key;
  if (typeof publicKey !== 'string' || !PUBLIC_KEY_HEX.test(publicKey))
    throw new Error('key file: public_key must be a 33-byte compressed public key in lowercase hex');
  const address = o.address;
  if (!isValidAddress(address)) throw new Error('key file: address is not a valid cpc1… address');
  const createdAt = o.created_at;
  if (typeof createdAt !== 'number' || !Number.isSafeInteger(createdAt) || createdAt < 0)
    throw new Error('key file: created_at must be a non-negative integer (Unix seconds)');
  const derivedPublic = publicKeyFromPrivate(privateKey);
  if (publicKey !== derivedPublic) throw new Error('key file: public_key does not belong to private_key');
  const derivedAddress = addressFromPublicKey(derivedPublic);
  if (address !== derivedAddress)
    throw new Error(
      `key file: address ${address} does not belong to private_key (expected ${derivedAddress})`,
    );
  return { name, address, public_key: publicKey, private_key: privateKey, created_at: createdAt };
}

function privateKeyBytes(hex: string): Uint8Array {
  if (typeof hex !== 'string' || !PRIVATE_KEY_HEX.test(hex))
    throw new Error('private key must be 64 lowercase hex characters');
  const bytes = hexToBytes(hex);
  if (!secp256k1.utils.isValidSecretKey(bytes))
    throw new Error('private key is not a valid secp256k1 scalar');
  return bytes;
}

function publicKeyBytes(hex: string): Uint8Array {
  if (typeof hex !== 'string' || !PUBLIC_KEY_HEX.test(hex))
    throw new Error('public key must be a 33-byte compressed key in lowercase hex');
  const bytes = hexToBytes(hex);
  if (!secp256k1.utils.isValidPublicKey(bytes, true))
    throw new Error('public key is not a point on secp256k1');
  return bytes;
}
