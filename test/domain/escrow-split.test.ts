import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  holdEscrow,
  isFeePctCt,
  residualRefund,
  splitEscrow,
  splitIncrement,
  type CtIt,
} from '../../src/domain/escrow-split.js';

const pct = fc.integer({ min: 0, max: 100 });
const amount = fc.bigInt({ min: 0n, max: 10n ** 30n });

describe('CT/IT escrow split', () => {
  it('holds 5 CT and 15 IT for price 20 at fee_pct_ct 25 from balances CT 100 / IT 100', () => {
    const r = holdEscrow({ ct: 100n, it: 100n }, 20n, 25);
    expect(r).toEqual({ ok: true, held: { ct: 5n, it: 15n }, balances: { ct: 95n, it: 85n } });
  });

  it('follows the spec table and rounds CT down', () => {
    expect(splitEscrow(1000n, 0)).toEqual({ ct: 0n, it: 1000n });
    expect(splitEscrow(1000n, 25)).toEqual({ ct: 250n, it: 750n });
    expect(splitEscrow(1000n, 100)).toEqual({ ct: 1000n, it: 0n });
    // 7 × 25% = 1.75 CT → 1 CT, and IT takes the rest.
    expect(splitEscrow(7n, 25)).toEqual({ ct: 1n, it: 6n });
    expect(splitEscrow(0n, 50)).toEqual({ ct: 0n, it: 0n });
  });

  it('refuses bad percentages and negative amounts', () => {
    for (const bad of [-1, 101, 2.5, Number.NaN]) expect(() => splitEscrow(10n, bad)).toThrow(RangeError);
    expect(() => splitEscrow(-1n, 10)).toThrow(RangeError);
    expect(isFeePctCt(0)).toBe(true);
    expect(isFeePctCt('25')).toBe(false);
  });

  it('fails a hold that either asset cannot cover, holding nothing', () => {
    expect(holdEscrow({ ct: 4n, it: 100n }, 20n, 25)).toEqual({
      ok: false,
      missing: { ct: 1n, it: 0n },
      held: { ct: 5n, it: 15n },
    });
    expect(holdEscrow({ ct: 0n, it: 10n }, 20n, 0)).toMatchObject({
      ok: false,
      missing: { ct: 0n, it: 10n },
    });
  });

  it('charges against one hold add up to the split of the total, never past the hold', () => {
    // Hold 3 at 50% = 1 CT + 2 IT; three charges of 1 must not take 3 IT.
    const held = splitEscrow(3n, 50);
    const charges = [0n, 1n, 2n].map((before) => splitIncrement(before, 1n, 50));
    expect(charges).toEqual([
      { ct: 0n, it: 1n },
      { ct: 1n, it: 0n },
      { ct: 0n, it: 1n },
    ]);
    const total = charges.reduce((s, c) => ({ ct: s.ct + c.ct, it: s.it + c.it }), { ct: 0n, it: 0n });
    expect(total).toEqual(held);
    expect(residualRefund(held, total)).toEqual({ ct: 0n, it: 0n });
  });

  it('refunds what is left asset by asset', () => {
    const held = splitEscrow(20n, 25); // 5 CT, 15 IT
    const charged = splitIncrement(0n, 13n, 25); // 3 CT, 10 IT
    expect(charged).toEqual({ ct: 3n, it: 10n });
    expect(residualRefund(held, charged)).toEqual({ ct: 2n, it: 5n });
    expect(() => residualRefund(held, { ct: 6n, it: 0n })).toThrow(/more was charged/);
  });

  it('ct + it is the amount; fee 0 is all IT; fee 100 is all CT', () => {
    fc.assert(
      fc.property(amount, pct, (a, p) => {
        const s = splitEscrow(a, p);
        expect(s.ct + s.it).toBe(a);
        expect(s.ct >= 0n && s.it >= 0n).toBe(true);
        // CT is the floor of its exact share.
        expect(s.ct * 100n <= a * BigInt(p) && a * BigInt(p) < (s.ct + 1n) * 100n).toBe(true);
        expect(splitEscrow(a, 0)).toEqual({ ct: 0n, it: a });
        expect(splitEscrow(a, 100)).toEqual({ ct: a, it: 0n });
      }),
      { numRuns: 1000 },
    );
  });

  it('any sequence of charges within the hold conserves each asset', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 24n }),
        pct,
        fc.array(fc.bigInt({ min: 0n, max: 10n ** 22n }), { maxLength: 20 }),
        (reward, p, wanted) => {
          const held = splitEscrow(reward, p);
          let chargedTotal = 0n;
          const charged: CtIt = { ct: 0n, it: 0n };
          for (const w of wanted) {
            const c = w > reward - chargedTotal ? reward - chargedTotal : w;
            const part = splitIncrement(chargedTotal, c, p);
            expect(part.ct >= 0n && part.it >= 0n && part.ct + part.it === c).toBe(true);
            charged.ct += part.ct;
            charged.it += part.it;
            chargedTotal += c;
          }
          const refund = residualRefund(held, charged);
          expect(charged.ct + refund.ct).toBe(held.ct);
          expect(charged.it + refund.it).toBe(held.it);
          expect(refund.ct + refund.it).toBe(reward - chargedTotal);
        },
      ),
      { numRuns: 500 },
    );
  });
});
