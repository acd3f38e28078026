import { blake3 } from '@noble/hashes/blake3.js';
import { bytesToHex, concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeReceipt,
  encodeReceipt,
  makeReceipt,
  receiptAmount,
  receiptKey,
  type ReceiptFields,
} from '../../src/domain/receipts.js';

const fields: ReceiptFields = {
  job_id: '550e8400-e29b-41d4-a716-446655440000',
  buyer: '6ba7b810-9dad-11d1-80b4-00c04fd430c8',
  provider: 'cpc1w508d6qejxtdg4y5r3zarvary0c5xw7k32stzz',
  quote_price: 5n * 10n ** 18n,
  units: 4,
  issued_at: 1_700_000_000,
};

/** The key written out by hand: 4-byte big-endian length, then the UTF-8 text, per field. */
function handKey(parts: string[]): string {
  const chunks = parts.map((p) => {
    const b = utf8ToBytes(p);
    return concatBytes(
      new Uint8Array([b.length >>> 24, (b.length >>> 16) & 255, (b.length >>> 8) & 255, b.length & 255]),
      b,
    );
  });
  return bytesToHex(blake3(concatBytes(...chunks)));
}

describe('receipts', () => {
  it('keys a receipt by BLAKE3 of its length-prefixed fields', () => {
    const r = makeReceipt(fields);
    expect(r.version).toBe(1);
    expect(r.idempotency_key).toBe(
      handKey([fields.job_id, fields.buyer, fields.provider, '5000000000000000000', '4', '1']),
    );
    expect(r.idempotency_key).toMatch(/^[0-9a-f]{64}$/);
  });

  it('the key ignores issued_at and changes with every other field', () => {
    const key = makeReceipt(fields).idempotency_key;
    expect(makeReceipt({ ...fields, issued_at: 1 }).idempotency_key).toBe(key);
    const changed: ReceiptFields[] = [
      { ...fields, job_id: `${fields.job_id}x` },
      { ...fields, buyer: `${fields.buyer}x` },
      { ...fields, provider: `${fields.provider}x` },
      { ...fields, quote_price: fields.quote_price + 1n },
      { ...fields, units: 5 },
    ];
    for (const f of changed) expect(makeReceipt(f).idempotency_key).not.toBe(key);
    expect(receiptKey(fields, 2)).not.toBe(key);
  });

  it('field boundaries cannot shift: "ab"+"c" and "a"+"bc" differ', () => {
    const a = receiptKey({ ...fields, job_id: 'ab', buyer: 'c' });
    const b = receiptKey({ ...fields, job_id: 'a', buyer: 'bc' });
    expect(a).not.toBe(b);
    // Nor can a price's digits move into the units.
    expect(receiptKey({ ...fields, quote_price: 12n, units: 3 })).not.toBe(
      receiptKey({ ...fields, quote_price: 1n, units: 23 }),
    );
  });

  it('distinct fields give distinct keys; equal fields the same key', () => {
    const text = fc.string({ minLength: 1, maxLength: 12 });
    const arb = fc.record({
      job_id: text,
      buyer: text,
      provider: text,
      quote_price: fc.bigInt({ min: 0n, max: 10n ** 24n }),
      units: fc.integer({ min: 1, max: 1_000_000 }),
      issued_at: fc.nat(),
    });
    fc.assert(
      fc.property(arb, arb, (a, b) => {
        const same =
          a.job_id === b.job_id &&
          a.buyer === b.buyer &&
          a.provider === b.provider &&
          a.quote_price === b.quote_price &&
          a.units === b.units;
        expect(receiptKey(a) === receiptKey(b)).toBe(same);
        expect(receiptKey(a)).toBe(receiptKey({ ...a }));
      }),
      { numRuns: 1000 },
    );
  });

  it('validates fields', () => {
    expect(() => makeReceipt({ ...fields, job_id: '' })).toThrow(/job_id/);
    expect(() => makeReceipt({ ...fields, units: 0 })).toThrow(/units/);
    expect(() => makeReceipt({ ...fields, units: 1.5 })).toThrow(/units/);
    expect(() => makeReceipt({ ...fields, quote_price: -1n })).toThrow(/quote_price/);
    expect(() => makeReceipt({ ...fields, issued_at: -1 })).toThrow(/issued_at/);
    expect(() => makeReceipt({ ...fields, buyer: 'a\ud800' })).toThrow(/Unicode/);
    expect(makeReceipt({ ...fields, quote_price: 0n }).quote_price).toBe(0n);
  });

  it('amount is quote_price × units', () => {
    expect(receiptAmount(makeReceipt(fields))).toBe(20n * 10n ** 18n);
    expect(receiptAmount({ quote_price: 10n ** 30n, units: 1_000_000 })).toBe(10n ** 36n);
  });

  it('encodes as JSON with the price as a string and decodes back', () => {
    const r = makeReceipt(fields);
    const text = encodeReceipt(r);
    expect(text).toBe(
      `{"version":1,"job_id":"${fields.job_id}","buyer":"${fields.buyer}","provider":"${fields.provider}",` +
        `"quote_price":"5000000000000000000","units":4,"issued_at":1700000000,"idempotency_key":"${r.idempotency_key}"}`,
    );
    expect(decodeReceipt(text)).toEqual({ ok: true, receipt: r });
    expect(decodeReceipt(utf8ToBytes(text))).toEqual({ ok: true, receipt: r });
    expect(decodeReceipt(JSON.parse(text))).toEqual({ ok: true, receipt: r });
  });

  it('reports damaged receipts instead of throwing', () => {
    const good = JSON.parse(encodeReceipt(makeReceipt(fields))) as Record<string, unknown>;
    const cases: [unknown, string][] = [
      ['{"version":1,', 'not_json'],
      [new Uint8Array([0xff, 0xfe]), 'not_json'],
      ['[1,2]', 'bad_shape'],
      ['null', 'bad_shape'],
      [JSON.stringify({ ...good, version: 2 }), 'unsupported_version'],
      [JSON.stringify({ ...good, quote_price: 5 }), 'bad_field'],
      [JSON.stringify({ ...good, quote_price: '05' }), 'bad_field'],
      [JSON.stringify({ ...good, units: '4' }), 'bad_field'],
      [JSON.stringify({ ...good, job_id: undefined }), 'bad_field'],
      [JSON.stringify({ ...good, idempotency_key: 'zz' }), 'bad_field'],
      [JSON.stringify({ ...good, units: 5 }), 'key_mismatch'],
      [JSON.stringify({ ...good, provider: 'cpc1someoneelse' }), 'key_mismatch'],
    ];
    for (const [input, problem] of cases) {
      const d = decodeReceipt(input);
      expect(d.ok).toBe(false);
      if (!d.ok) expect(d.problem).toBe(problem);
    }
    // Only issued_at may change without the key noticing (it is not part of it).
    expect(decodeReceipt(JSON.stringify({ ...good, issued_at: 5 })).ok).toBe(true);
  });

  it('never throws on arbitrary input', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.jsonValue().map((v) => JSON.stringify(v)),
          fc.uint8Array(),
        ),
        (input) => {
          expect(decodeReceipt(input).ok).toBe(false);
        },
      ),
    );
  });
});
