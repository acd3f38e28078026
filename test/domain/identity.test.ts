import { secp256k1 } from '@noble/curves/secp256k1.js';
import { ripemd160 } from '@noble/hashes/legacy.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { bech32, bech32m } from '@scure/base';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addressFromPublicKey,
  generateKeyPair,
  isValidAddress,
  keyFileFor,
  parseKeyFile,
  publicKeyFromPrivate,
  signMessage,
  verifySignature,
} from '../../src/domain/identity.js';

const ONE = '0000000000000000000000000000000000000000000000000000000000000001';
/** The generator point G, compressed: the public key of private key 1. */
const G = '0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798';
/** HASH160(G), the witness program of BIP-173's example bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4. */
const HASH160_G = '751e76e8199196d454941c45d1b3a323f1433bd6';
const ADDRESS_G = 'cpc1w508d6qejxtdg4y5r3zarvary0c5xw7k32stzz';

const CURVE_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

const validPrivateKey = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .filter((b) => secp256k1.utils.isValidSecretKey(b))
  .map(bytesToHex);

describe('addresses', () => {
  it('derives bech32("cpc", RIPEMD160(SHA256(compressed key))) with no witness version', () => {
    expect(publicKeyFromPrivate(ONE)).toBe(G);
    const h160 = ripemd160(sha256(hexToBytes(G)));
    expect(bytesToHex(h160)).toBe(HASH160_G);
    // The same 20 bytes as BIP-173's own test vector, where they follow a version word.
    const bip173 = bech32.decode('bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4');
    expect(bytesToHex(bech32.fromWords(bip173.words.slice(1)))).toBe(HASH160_G);
    expect(addressFromPublicKey(G)).toBe(bech32.encode('cpc', bech32.toWords(h160)));
    expect(addressFromPublicKey(G)).toBe(ADDRESS_G);
    expect(isValidAddress(ADDRESS_G)).toBe(true);
  });

  it('every derived address is valid and matches an independent derivation', () => {
    fc.assert(
      fc.property(validPrivateKey, (priv) => {
        const pub = publicKeyFromPrivate(priv);
        expect(pub).toBe(bytesToHex(secp256k1.getPublicKey(hexToBytes(priv), true)));
        const address = addressFromPublicKey(pub);
        expect(address).toBe(bech32.encode('cpc', bech32.toWords(ripemd160(sha256(hexToBytes(pub))))));
        expect(isValidAddress(address)).toBe(true);
      }),
      { numRuns: 50 },
    );
  });

  it('refuses bech32m, other prefixes, a witness-version word, uppercase and broken checksums', () => {
    const h160 = hexToBytes(HASH160_G);
    expect(isValidAddress(bech32m.encode('cpc', bech32m.toWords(h160)))).toBe(false);
    expect(isValidAddress(bech32.encode('cpt', bech32.toWords(h160)))).toBe(false);
    expect(isValidAddress(bech32.encode('bc', bech32.toWords(h160)))).toBe(false);
    expect(isValidAddress(bech32.encode('cpc', [0, ...bech32.toWords(h160)]))).toBe(false);
    expect(isValidAddress(ADDRESS_G.toUpperCase())).toBe(false);
    // A 32-byte payload (a script hash, say) is not an address.
    expect(isValidAddress(bech32.encode('cpc', bech32.toWords(new Uint8Array(32))))).toBe(false);
    const flipped = ADDRESS_G.slice(0, 10) + (ADDRESS_G[10] === 'q' ? 'p' : 'q') + ADDRESS_G.slice(11);
    expect(isValidAddress(flipped)).toBe(false);
    for (const bad of [
      '',
      'cpc1',
      'cpc1qqqqqq',
      ADDRESS_G + 'q',
      ADDRESS_G.slice(0, -1),
      ` ${ADDRESS_G}`,
      42,
      null,
    ])
      expect(isValidAddress(bad), String(bad)).toBe(false);
  });

  it('refuses public keys that are not compressed points in lowercase hex', () => {
    expect(() => addressFromPublicKey(G.toUpperCase())).toThrow(/public key/);
    expect(() => addressFromPublicKey('04' + G.slice(2))).toThrow(/public key/);
    expect(() => addressFromPublicKey('02' + 'ff'.repeat(32))).toThrow(/not a point/);
    expect(() => publicKeyFromPrivate('00'.repeat(32))).toThrow(/scalar/);
    expect(() => publicKeyFromPrivate('0x' + ONE.slice(2))).toThrow(/hex/);
  });
});

describe('key generation', () => {
  it('takes its randomness from the source it is given', () => {
    const fixed = (n: number) => new Uint8Array(n).fill(7);
    const a = generateKeyPair(fixed);
    expect(a.privateKey).toBe('07'.repeat(32));
    expect(a.publicKey).toBe(publicKeyFromPrivate(a.privateKey));
    expect(a.address).toBe(addressFromPublicKey(a.publicKey));
    expect(generateKeyPair(fixed)).toEqual(a);
  });

  it('draws again when a draw is not a valid scalar, and gives up on a broken source', () => {
    const draws = [new Uint8Array(32), hexToBytes('ff'.repeat(32)), hexToBytes(ONE)];
    expect(generateKeyPair(() => draws.shift() as Uint8Array).publicKey).toBe(G);
    expect(() => generateKeyPair((n) => new Uint8Array(n))).toThrow(/random source/);
  });

  it('gives distinct keys from the platform source', () => {
    const a = generateKeyPair();
    const b = generateKeyPair();
    expect(a.privateKey).toMatch(/^[0-9a-f]{64}$/);
    expect(a.privateKey).not.toBe(b.privateKey);
    expect(isValidAddress(a.address)).toBe(true);
  });
});

describe('signatures', () => {
  const message = utf8ToBytes('task 550e8400 result 1234abcd');

  it('signs SHA-256 of the message: deterministic, compact, low-S, lowercase hex', () => {
    const sig = signMessage(ONE, message);
    expect(sig).toMatch(/^[0-9a-f]{128}$/);
    expect(signMessage(ONE, message)).toBe(sig);
    const prehashed = secp256k1.sign(sha256(message), hexToBytes(ONE), { prehash: false, lowS: true });
    expect(sig).toBe(bytesToHex(prehashed));
    expect(BigInt('0x' + sig.slice(64)) <= CURVE_N / 2n).toBe(true);
    expect(verifySignature(G, message, sig)).toBe(true);
  });

  it('round-trips for any key and message, and any tampering fails', () => {
    fc.assert(
      fc.property(validPrivateKey, fc.uint8Array({ maxLength: 200 }), fc.nat(), (priv, msg, where) => {
        const pub = publicKeyFromPrivate(priv);
        const sig = signMessage(priv, msg);
        expect(verifySignature(pub, msg, sig)).toBe(true);
        const tampered = msg.length === 0 ? Uint8Array.of(0) : Uint8Array.from(msg);
        if (msg.length > 0) tampered[where % msg.length] = (msg[where % msg.length] as number) ^ 1;
        expect(verifySignature(pub, tampered, sig)).toBe(false);
        const i = where % 128;
        const flippedSig = sig.slice(0, i) + (sig[i] === '0' ? '1' : '0') + sig.slice(i + 1);
        expect(verifySignature(pub, msg, flippedSig)).toBe(false);
        expect(verifySignature(G === pub ? publicKeyFromPrivate('02'.repeat(32)) : G, msg, sig)).toBe(false);
      }),
      { numRuns: 40 },
    );
  });

  it('refuses the high-S twin of a valid signature', () => {
    const sig = signMessage(ONE, message);
    const s = BigInt('0x' + sig.slice(64));
    const twin = sig.slice(0, 64) + (CURVE_N - s).toString(16).padStart(64, '0');
    expect(verifySignature(G, message, twin)).toBe(false);
  });

  it('answers false, never throws, on garbage', () => {
    const sig = signMessage(ONE, message);
    const cases: [unknown, unknown, unknown][] = [
      [G, message, ''],
      [G, message, 'zz'.repeat(64)],
      [G, message, sig.toUpperCase()],
      [G, message, sig + '00'],
      [G, message, '00'.repeat(64)],
      [G, message, 'ff'.repeat(64)],
      ['', message, sig],
      [G.toUpperCase(), message, sig],
      ['02' + 'ff'.repeat(32), message, sig],
      ['04' + G.slice(2), message, sig],
      [G, 'not bytes', sig],
      [null, null, null],
    ];
    for (const [pub, msg, s] of cases)
      expect(
        verifySignature(pub as string, msg as Uint8Array, s as string),
        `${String(pub)} ${String(s)}`,
      ).toBe(false);
  });
});

describe('key files', () => {
  const good = keyFileFor('provider-1', ONE, 1_700_000_000);

  it('builds and parses a key file whose keys and address agree', () => {
    expect(good).toEqual({
      name: 'provider-1',
      address: ADDRESS_G,
      public_key: G,
      private_key: ONE,
      created_at: 1_700_000_000,
    });
    expect(parseKeyFile(JSON.parse(JSON.stringify(good)))).toEqual(good);
  });

  it('drops unknown fields', () => {
    expect(parseKeyFile({ ...good, comment: 'x' })).toEqual(good);
  });

  it('names the problem with each bad file, and never echoes the private key', () => {
    const other = generateKeyPair((n) => new Uint8Array(n).fill(9));
    const cases: [unknown, RegExp][] = [
      [null, /JSON object/],
      [[good], /JSON object/],
      ['text', /JSON object/],
      [{ ...good, name: '' }, /name/],
      [{ ...good, name: undefined }, /name/],
      [{ ...good, private_key: 'AB'.repeat(32) }, /private_key must be/],
      [{ ...good, private_key: '0x' + ONE.slice(2) }, /private_key/],
      [{ ...good, private_key: '00'.repeat(32) }, /private_key is not a valid/],
      [{ ...good, public_key: undefined }, /public_key must be/],
      [{ ...good, public_key: '04' + G.slice(2) }, /public_key must be/],
      [{ ...good, public_key: other.publicKey }, /public_key does not belong/],
      [{ ...good, address: other.address }, /address cpc1.* does not belong/],
      [{ ...good, address: 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4' }, /address is not a valid/],
      [{ ...good, created_at: '2024-01-01' }, /created_at/],
      [{ ...good, created_at: -1 }, /created_at/],
      [{ ...good, created_at: 1.5 }, /created_at/],
    ];
    for (const [input, expected] of cases) {
      let message = '';
      try {
        parseKeyFile(input);
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message, JSON.stringify(input)).toMatch(expected);
      expect(message).not.toContain(ONE);
    }
  });
});
