import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ACCELERATOR_PREMIUM_PPM,
  effectivePrice,
  effectivePriceScaled,
  PPM,
  toPpm,
} from '../../src/domain/pricing.js';

describe('effective price', () => {
  it('follows the worked examples', () => {
    expect(effectivePrice(100n, toPpm(1.0), false)).toBe(100n);
    expect(effectivePrice(100n, toPpm(0.8), false)).toBe(80n);
    expect(effectivePrice(100n, toPpm(0.8), true)).toBe(96n);
    expect(effectivePrice(100n, toPpm(1.0), true)).toBe(120n);
    expect(effectivePrice(10n ** 16n, toPpm(0.5), true)).toBe(6n * 10n ** 15n);
  });

  it('keeps multipliers as whole parts per million', () => {
    expect(toPpm(0.8)).toBe(800_000);
    expect(toPpm(0.1 + 0.2)).toBe(300_000);
    expect(ACCELERATOR_PREMIUM_PPM).toBe(1_200_000);
    expect(PPM).toBe(1_000_000);
    expect(() => toPpm(-0.1)).toThrow(RangeError);
    expect(() => toPpm(Number.NaN)).toThrow(RangeError);
    expect(() => effectivePrice(1n, 0.5, false)).toThrow(RangeError);
    expect(() => effectivePrice(-1n, PPM, false)).toThrow(RangeError);
  });

  it('rounds down for display and ranks on the exact value', () => {
    expect(effectivePrice(7n, toPpm(0.5), false)).toBe(3n);
    expect(effectivePriceScaled(7n, toPpm(0.5), false)).toBe(3_500_000_000_000n);
    // 3 × 0.5 and 3 × 0.6 both show 1, but rank apart.
    expect(effectivePrice(3n, toPpm(0.5), false)).toBe(effectivePrice(3n, toPpm(0.6), false));
    expect(effectivePriceScaled(3n, toPpm(0.5), false)).toBeLessThan(
      effectivePriceScaled(3n, toPpm(0.6), false),
    );
  });

  it('is the floor of the exact product, monotone in price and multiplier', () => {
    const price = fc.bigInt({ min: 0n, max: 10n ** 24n });
    const ppm = fc.integer({ min: 0, max: 10 * PPM });
    fc.assert(
      fc.property(price, price, ppm, ppm, fc.boolean(), (p1, p2, m1, m2, accel) => {
        const premium = accel ? 12n : 10n;
        expect(effectivePrice(p1, m1, accel)).toBe((p1 * BigInt(m1) * premium) / (10n * BigInt(PPM)));
        if (p1 <= p2)
          expect(effectivePrice(p1, m1, accel)).toBeLessThanOrEqual(effectivePrice(p2, m1, accel));
        if (m1 <= m2)
          expect(effectivePriceScaled(p1, m1, accel)).toBeLessThanOrEqual(
            effectivePriceScaled(p1, m2, accel),
          );
        if (m1 <= PPM) expect(effectivePrice(p1, m1, false)).toBeLessThanOrEqual(p1);
      }),
    );
  });
});
