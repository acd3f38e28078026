import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatAmount, MAX_AMOUNT, parseAmount } from '../../src/domain/money.js';

describe('money', () => {
  it('parses decimal strings exactly into base units', () => {
    expect(parseAmount('10.0')).toEqual({ ok: true, value: 10n * 10n ** 18n });
    expect(parseAmount('10')).toEqual({ ok: true, value: 10n * 10n ** 18n });
    expect(parseAmount('0.000000000000000001')).toEqual({ ok: true, value: 1n });
    expect(parseAmount('123456789.123456789123456789')).toEqual({
      ok: true,
      value: 123456789123456789123456789n,
    });
  });

  it('rejects what is not a plain decimal', () => {
    for (const bad of [
      '',
      '.',
      '1.',
      '.5',
      '-1',
      '+1',
      '1e3',
      '1E-3',
      ' 1',
      '1 ',
      '01',
      '0x10',
      'NaN',
      'Infinity',
      '1,5',
      '1.2.3',
    ])
      expect(parseAmount(bad), bad).toEqual({ ok: false, problem: 'not_decimal' });
  });

  it('rejects more precision than the asset has, and absurd sizes', () => {
    expect(parseAmount('0.0000000000000000001')).toEqual({ ok: false, problem: 'too_precise' });
    expect(parseAmount('1'.repeat(40))).toEqual({ ok: false, problem: 'too_large' });
  });

  it('formats with at least one fraction digit and no trailing zeros', () => {
    expect(formatAmount(10n * 10n ** 18n)).toBe('10.0');
    expect(formatAmount(5n * 10n ** 17n)).toBe('0.5');
    expect(formatAmount(1n)).toBe('0.000000000000000001');
    expect(formatAmount(-25n * 10n ** 17n)).toBe('-2.5');
    expect(formatAmount(0n)).toBe('0.0');
  });

  it('round-trips every amount through its text form', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: MAX_AMOUNT }), (v) => {
        const parsed = parseAmount(formatAmount(v));
        expect(parsed).toEqual({ ok: true, value: v });
      }),
      { numRuns: 2000 },
    );
  });

  it('parses any whole/fraction pair to the value arithmetic says', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 20n }),
        fc.stringMatching(/^[0-9]{0,18}$/),
        (whole, frac) => {
          const text = frac ? `${whole}.${frac}` : `${whole}`;
          const expected = whole * 10n ** 18n + (frac ? BigInt(frac.padEnd(18, '0')) : 0n);
          expect(parseAmount(text)).toEqual({ ok: true, value: expected });
        },
      ),
    );
  });
});
