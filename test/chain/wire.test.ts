import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseJsonExact } from '../../src/chain/json.js';
import { decodeTx, encodeTx, txToWire } from '../../src/chain/wire.js';
import { txHash } from '../../src/domain/chain-tx.js';
import { resultOf, submitResultTx, transferTx } from './fixtures.js';

describe('exact JSON', () => {
  it('keeps integers past 2^53 as bigint and leaves the rest as JSON.parse does', () => {
    expect(parseJsonExact('{"a":100000000000000000000,"b":-9007199254740993,"c":9007199254740991}')).toEqual({
      a: 10n ** 20n,
      b: -9007199254740993n,
      c: 9007199254740991,
    });
    expect(parseJsonExact('[1.5e300, 2.5, 1e25, "123456789012345678901234"]')).toEqual([
      1.5e300,
      2.5,
      1e25,
      '123456789012345678901234',
    ]);
    // Digits inside strings, escaped quotes included, are never touched.
    expect(parseJsonExact('{"s":"x\\" 99999999999999999999 \\\\","n":99999999999999999999}')).toEqual({
      s: 'x" 99999999999999999999 \\',
      n: 99999999999999999999n,
    });
    expect(() => parseJsonExact('{"a":')).toThrow(SyntaxError);
  });

  it('agrees with JSON.parse on anything without large integers', () => {
    fc.assert(
      // Integers of 16 digits or more may be past 2^53, where the exact parser returns bigint.
      fc.property(
        fc.jsonValue().filter((v) => !/\d{16,}/.test(JSON.stringify(v))),
        (v) => {
          const text = JSON.stringify(v);
          expect(parseJsonExact(text)).toEqual(JSON.parse(text));
        },
      ),
    );
  });

  it('round-trips any integer exactly', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }), (n) => {
        const back = parseJsonExact(`{"n":${n}}`) as { n: bigint | number };
        expect(BigInt(back.n)).toBe(n);
      }),
    );
  });
});

describe('wire transactions', () => {
  it('writes amounts as decimal strings in a fixed key order and reads them back', () => {
    const tx = transferTx(3);
    const text = encodeTx(tx);
    expect(Object.keys(JSON.parse(text))).toEqual([
      'tx_type',
      'from_address',
      'to_address',
      'amount',
      'fee',
      'nonce',
      'gas_price',
      'gas_limit',
      'timestamp',
      'pub_key',
      'signature',
      'payload',
    ]);
    expect(JSON.parse(text)).toMatchObject({ amount: '25000000000000000000', fee: '21000000', payload: {} });
    expect(decodeTx(JSON.parse(text))).toEqual({ ok: true, tx });
    const sr = submitResultTx(4, resultOf(9));
    expect(decodeTx(JSON.parse(encodeTx(sr)))).toEqual({ ok: true, tx: sr });
  });

  it("reads the node's spelling: numeric amounts, no timestamp, extra keys", () => {
    const tx = transferTx(5);
    const wire = { ...txToWire(tx), amount: tx.amount, fee: Number(tx.fee), extra: 1 } as Record<
      string,
      unknown
    >;
    delete wire.timestamp;
    const d = decodeTx(wire);
    expect(d.ok && txHash(d.tx)).toBe(txHash(tx));
    expect(d.ok && d.tx.timestamp).toBe(0);
  });

  it('says what is wrong with a malformed transaction', () => {
    const good = txToWire(transferTx(1)) as unknown as Record<string, unknown>;
    const cases: [unknown, RegExp][] = [
      [null, /object/],
      [{ ...good, tx_type: 'STAKE' }, /unsupported tx_type/],
      [{ ...good, amount: '-1' }, /amount/],
      [{ ...good, amount: 1.5 }, /amount/],
      [{ ...good, nonce: '1' }, /nonce/],
      [{ ...good, signature: 5 }, /signature/],
      [{ ...good, to_address: 'cpc1bad' }, /to_address/],
      [{ ...good, payload: { a: 1 } }, /empty payload/],
      [
        { ...txToWire(submitResultTx(1, resultOf(1))), payload: { ...resultOf(1), nonce: 2n ** 60n } },
        /2\^53/,
      ],
      [{ ...txToWire(submitResultTx(1, resultOf(1))), payload: { ...resultOf(1), proof: null } }, /proof/],
    ];
    for (const [input, message] of cases) {
      const d = decodeTx(input);
      expect(d.ok).toBe(false);
      if (!d.ok) expect(d.error).toMatch(message);
    }
  });
});
