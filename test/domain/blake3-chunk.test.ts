import { blake3 as nobleBlake3 } from '@noble/hashes/blake3.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import { blake3, CHUNK_BYTES } from '../../src/domain/blake3-chunk.js';
import { seededRng } from '../../src/domain/rng.js';

describe('blake3 (one chunk)', () => {
  it('gives the published hash of the empty message and of "abc"', () => {
    expect(bytesToHex(blake3(new Uint8Array(0)))).toBe(
      'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262',
    );
    expect(bytesToHex(blake3(utf8ToBytes('abc')))).toBe(
      '6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85',
    );
  });

  it("is noble's BLAKE3 at every length up to past one chunk", () => {
    const rng = seededRng(7);
    for (let n = 0; n <= CHUNK_BYTES + 70; n++) {
      const message = Uint8Array.from({ length: n }, () => Math.floor(rng() * 256));
      expect(bytesToHex(blake3(message)), `length ${n}`).toBe(bytesToHex(nobleBlake3(message)));
    }
  });

  it('returns a fresh array each call, and reads a subarray at its offset', () => {
    const a = blake3(utf8ToBytes('one'));
    const b = blake3(utf8ToBytes('two'));
    expect(bytesToHex(a)).toBe(bytesToHex(nobleBlake3(utf8ToBytes('one'))));
    expect(bytesToHex(a)).not.toBe(bytesToHex(b));
    const framed = utf8ToBytes('xxabcxx').subarray(2, 5);
    expect(bytesToHex(blake3(framed))).toBe(bytesToHex(nobleBlake3(utf8ToBytes('abc'))));
  });
});
