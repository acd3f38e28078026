import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BPS_TOTAL,
  DEFAULT_SPLIT,
  INITIAL_SETTLEMENT,
  SPLIT_PARTIES,
  advance,
  applyCommand,
  makeSplit,
  modeAt,
  onFailure,
  splitAmount,
  splitProblems,
  type SettlementState,
  type SplitShares,
} from '../../src/domain/settlement.js';

const CPC = 10n ** 18n;

/** Four basis-point shares that sum to 10000, from three cut points. */
const sharesArb = fc.tuple(fc.nat(BPS_TOTAL), fc.nat(BPS_TOTAL), fc.nat(BPS_TOTAL)).map(([a, b, c]) => {
  const [x, y, z] = [a, b, c].sort((p, q) => p - q) as [number, number, number];
  return makeSplit({ burn: x, worker: y - x, validators: z - y, treasury: BPS_TOTAL - z });
});

describe('payment split', () => {
  it('splits a 100 CPC task 60/25/10/5', () => {
    expect(splitAmount(100n * CPC)).toEqual({
      burn: 60n * CPC,
      worker: 25n * CPC,
      validators: 10n * CPC,
      treasury: 5n * CPC,
    });
  });

  it('gives leftover base units to the largest remainders, ties in spec order', () => {
    // 3 units: exact 1.8 / 0.75 / 0.3 / 0.15 → floors 1/0/0/0, two left for burn (.8) and worker (.75).
    expect(splitAmount(3n)).toEqual({ burn: 2n, worker: 1n, validators: 0n, treasury: 0n });
    expect(splitAmount(1n)).toEqual({ burn: 1n, worker: 0n, validators: 0n, treasury: 0n });
    expect(splitAmount(0n)).toEqual({ burn: 0n, worker: 0n, validators: 0n, treasury: 0n });
    // 10 units at 33.33/33.33/33.34/0: floors 3/3/3/0, the unit goes to validators (.334 > .333).
    const thirds = makeSplit({ burn: 3333, worker: 3333, validators: 3334, treasury: 0 });
    expect(splitAmount(10n, thirds)).toEqual({ burn: 3n, worker: 3n, validators: 4n, treasury: 0n });
    // Equal remainders: burn before worker before validators.
    const quarters = makeSplit({ burn: 2500, worker: 2500, validators: 2500, treasury: 2500 });
    expect(splitAmount(2n, quarters)).toEqual({ burn: 1n, worker: 1n, validators: 0n, treasury: 0n });
    expect(splitAmount(7n, quarters)).toEqual({ burn: 2n, worker: 2n, validators: 2n, treasury: 1n });
  });

  it('refuses a negative amount', () => {
    expect(() => splitAmount(-1n)).toThrow(RangeError);
  });

  it('validates the shares', () => {
    expect(splitProblems(DEFAULT_SPLIT)).toEqual([]);
    expect(splitProblems({ burn: 6000, worker: 2500, validators: 1000, treasury: 400 })).toEqual([
      'shares must sum to 10000 basis points (100%), got 9900',
    ]);
    expect(splitProblems({ burn: 6000.5, worker: 2500, validators: 1000, treasury: 499.5 })[0]).toMatch(
      /burn/,
    );
    expect(splitProblems({ burn: -1, worker: 2501, validators: 1000, treasury: 500 })[0]).toMatch(/burn/);
    expect(splitProblems({ burn: 6000, worker: 2500, validators: 1000 })[0]).toMatch(/treasury/);
    expect(splitProblems({ ...DEFAULT_SPLIT, miners: 0 })[0]).toMatch(/unknown party "miners"/);
    expect(splitProblems(null)).toHaveLength(1);
    expect(() => makeSplit({ burn: 10000, worker: 1, validators: 0, treasury: 0 })).toThrow(/10000/);
    const made = makeSplit({ treasury: 0, burn: 10000, worker: 0, validators: 0 });
    expect(Object.isFrozen(made)).toBe(true);
    expect(splitAmount(5n, made)).toEqual({ burn: 5n, worker: 0n, validators: 0n, treasury: 0n });
  });

  it('parts always sum to the amount and stay within 1 base unit of their exact share', () => {
    fc.assert(
      fc.property(sharesArb, fc.bigInt({ min: 0n, max: 10n ** 30n }), (shares: SplitShares, amount) => {
        const parts = splitAmount(amount, shares);
        const total = SPLIT_PARTIES.reduce((s, p) => s + parts[p], 0n);
        expect(total).toBe(amount);
        for (const p of SPLIT_PARTIES) {
          // |part − amount × bps / 10000| < 1, scaled by 10000 to stay in integers.
          const diff = parts[p] * BigInt(BPS_TOTAL) - amount * BigInt(shares[p]);
          expect(diff > -BigInt(BPS_TOTAL) && diff < BigInt(BPS_TOTAL)).toBe(true);
          if (shares[p] === 0) expect(parts[p]).toBe(0n);
        }
        // Deterministic: the same inputs give the same parts.
        expect(splitAmount(amount, shares)).toEqual(parts);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('settlement modes', () => {
  const dry: SettlementState = { mode: 'DryRun', since: 0 };

  it('starts in DryRun', () => {
    expect(modeAt(INITIAL_SETTLEMENT, 1e12)).toBe('DryRun');
  });

  it('Armed turns Real exactly when armedAt + delay <= now', () => {
    const armed = applyCommand(dry, { type: 'arm', delayMs: 500 }, 1000);
    expect(armed).toMatchObject({ from: 'DryRun', to: 'Armed', changed: true });
    expect(armed.state).toEqual({ mode: 'Armed', armedAt: 1000, delayMs: 500 });
    expect(modeAt(armed.state, 1499)).toBe('Armed');
    expect(modeAt(armed.state, 1500)).toBe('Real');
    expect(advance(armed.state, 1499)).toMatchObject({ changed: false, to: 'Armed' });
    const real = advance(armed.state, 9000);
    expect(real).toMatchObject({ from: 'Armed', to: 'Real', changed: true });
    // Real from when the delay ran out, not from when it was noticed.
    expect(real.state).toEqual({ mode: 'Real', since: 1500 });
    expect(advance(real.state, 9001).changed).toBe(false);
  });

  it('a clock that goes backwards leaves Armed waiting', () => {
    const armed = applyCommand(dry, { type: 'arm', delayMs: 0 }, 5000).state;
    expect(modeAt(armed, 5000)).toBe('Real');
    expect(modeAt(armed, 4999)).toBe('Armed');
  });

  it('arming again changes nothing; disarming goes back to DryRun', () => {
    const armed = applyCommand(dry, { type: 'arm', delayMs: 500 }, 1000).state;
    const again = applyCommand(armed, { type: 'arm', delayMs: 10 }, 1200);
    expect(again.changed).toBe(false);
    expect(again.state).toEqual(armed);
    const disarmed = applyCommand(armed, { type: 'disarm' }, 1200);
    expect(disarmed).toMatchObject({ from: 'Armed', to: 'DryRun', changed: true });
    expect(disarmed.state).toEqual({ mode: 'DryRun', since: 1200 });
    expect(applyCommand(dry, { type: 'disarm' }, 5).changed).toBe(false);
    // Arming after the delay ran out reports the pending Armed → Real turn.
    expect(applyCommand(armed, { type: 'arm', delayMs: 1 }, 2000)).toMatchObject({
      from: 'Armed',
      to: 'Real',
    });
  });

  it('refuses a bad delay', () => {
    expect(() => applyCommand(dry, { type: 'arm', delayMs: -1 }, 0)).toThrow(RangeError);
    expect(() => applyCommand(dry, { type: 'arm', delayMs: 1.5 }, 0)).toThrow(RangeError);
  });

  it('any failure goes back to DryRun and keeps the reason', () => {
    const real: SettlementState = { mode: 'Real', since: 10 };
    const failed = onFailure(real, 'insufficient_escrow', 20);
    expect(failed).toMatchObject({ from: 'Real', to: 'DryRun', changed: true });
    expect(failed.state).toEqual({ mode: 'DryRun', since: 20, reason: 'insufficient_escrow' });
    expect(onFailure({ mode: 'Armed', armedAt: 0, delayMs: 100 }, 'x', 5).to).toBe('DryRun');
    expect(onFailure(dry, 'x', 5).changed).toBe(false);
  });
});
