import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  adjust,
  currentScore,
  isForgotten,
  mergeGossip,
  multiplierPpm,
  newEntry,
  OUTCOMES,
  shouldPreempt,
  type ReputationEntry,
} from '../../src/domain/reputation.js';
import { defaultParams, validateParams, type SchedulerParams } from '../../src/domain/scheduler-params.js';

const P = defaultParams();
const HOUR = 3_600_000;
const T0 = 1_700_000_000_000;

function withParams(patch: object): SchedulerParams {
  const r = validateParams(patch);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.params;
}

function score(outcomes: (typeof OUTCOMES)[number][], params = P): ReputationEntry | undefined {
  let e: ReputationEntry | undefined;
  for (const o of outcomes) e = adjust(e, o, T0, params);
  return e;
}

describe('reputation adjustments', () => {
  it('moves by the configured amounts, and not at all on a client cancel', () => {
    expect(adjust(undefined, 'success', T0, P)).toEqual({ score: 10, epoch: 1, updatedAtMs: T0 });
    expect(adjust(undefined, 'failure', T0, P).score).toBe(-50);
    expect(adjust(undefined, 'provider_cancel', T0, P).score).toBe(-25);
    expect(adjust(undefined, 'lease_expired', T0, P).score).toBe(-25);
    const e = { score: 40, epoch: 4, updatedAtMs: T0 };
    expect(adjust(e, 'client_cancel', T0 + HOUR, P)).toBe(e);
    expect(adjust(undefined, 'client_cancel', T0, P)).toEqual({ score: 0, epoch: 0, updatedAtMs: T0 });
    expect(score(['success', 'success', 'failure', 'success'])).toEqual({
      score: -20,
      epoch: 4,
      updatedAtMs: T0,
    });
  });

  it('takes a disputed result out of earned standing only, never below zero', () => {
    expect(adjust({ score: 40, epoch: 1, updatedAtMs: T0 }, 'disputed', T0, P).score).toBe(35);
    expect(adjust({ score: 3, epoch: 1, updatedAtMs: T0 }, 'disputed', T0, P).score).toBe(0);
    expect(adjust(undefined, 'disputed', T0, P).score).toBe(0);
    // Already below zero (its own failures): a dispute does not lift it either.
    expect(adjust({ score: -50, epoch: 1, updatedAtMs: T0 }, 'disputed', T0, P).score).toBe(-50);
  });

  it('stays within [-1000, 1000]', () => {
    expect(score(Array(250).fill('success'))?.score).toBe(1000);
    expect(score(Array(30).fill('failure'))?.score).toBe(-1000);
    expect(newEntry(T0, 5000).score).toBe(1000);
  });

  it('decays toward zero at provider_reputation_decay per hour, compounding', () => {
    const e = { score: 1000, epoch: 1, updatedAtMs: T0 };
    expect(currentScore(e, T0, P)).toBe(1000);
    expect(currentScore(e, T0 + HOUR, P)).toBe(950);
    expect(currentScore(e, T0 + 10 * HOUR, P)).toBe(599); // 1000 × 0.95¹⁰ = 598.7
    expect(currentScore({ ...e, score: -600 }, T0 + HOUR, P)).toBe(-570);
    expect(currentScore(e, T0 + 30 * 24 * HOUR, P)).toBe(0);
    expect(currentScore(e, T0 - HOUR, P)).toBe(1000); // the clock went back: no decay
    expect(currentScore(e, T0 + HOUR, withParams({ provider_reputation_decay: 0 }))).toBe(1000);
    expect(currentScore(undefined, T0, P)).toBe(0);
    // An adjustment applies to the decayed score.
    expect(adjust(e, 'failure', T0 + HOUR, P)).toEqual({ score: 900, epoch: 2, updatedAtMs: T0 + HOUR });
  });

  it('forgets an entry untouched for longer than the retention', () => {
    const e = newEntry(T0);
    expect(isForgotten(e, T0 + 604_800_000, P)).toBe(false);
    expect(isForgotten(e, T0 + 604_800_001, P)).toBe(true);
  });

  it('maps reputation to a multiplier: better standing, lower effective price', () => {
    expect(multiplierPpm(0, P)).toBe(1_000_000);
    expect(multiplierPpm(400, P)).toBe(800_000);
    expect(multiplierPpm(1000, P)).toBe(500_000);
    expect(multiplierPpm(-300, P)).toBe(1_000_000);
    expect(multiplierPpm(5000, P)).toBe(500_000);
    expect(multiplierPpm(333, P)).toBe(833_500);
    const narrow = withParams({ reputation_multiplier_min: 0.9, reputation_multiplier_max: 0.9 });
    expect(multiplierPpm(0, narrow)).toBe(900_000);
    expect(multiplierPpm(1000, narrow)).toBe(900_000);
  });

  it('preempts only when enabled and the lead is at least preempt_min_delta', () => {
    expect(shouldPreempt(100, 500, P)).toBe(false);
    const on = withParams({ enable_preempt: true });
    expect(shouldPreempt(100, 200, on)).toBe(true);
    expect(shouldPreempt(100, 199, on)).toBe(false);
    expect(shouldPreempt(-50, 50, on)).toBe(true);
  });
});

describe('reputation gossip', () => {
  const local = { score: 100, epoch: 5, updatedAtMs: T0 };

  it('applies a greater epoch with a score in bounds, and nothing else', () => {
    expect(mergeGossip(local, { score: -20, epoch: 6 }, T0 + 1)).toEqual({
      applied: true,
      entry: { score: -20, epoch: 6, updatedAtMs: T0 + 1 },
    });
    expect(mergeGossip(undefined, { score: 1000, epoch: 0 }, T0)).toEqual({
      applied: true,
      entry: { score: 1000, epoch: 0, updatedAtMs: T0 },
    });
    expect(mergeGossip(local, { score: 300, epoch: 5 }, T0)).toEqual({ applied: false });
    expect(mergeGossip(local, { score: 300, epoch: 4 }, T0)).toEqual({ applied: false });
    expect(mergeGossip(local, { score: 1001, epoch: 9 }, T0)).toEqual({ applied: false });
    expect(mergeGossip(local, { score: -1001, epoch: 9 }, T0)).toEqual({ applied: false });
    expect(mergeGossip(local, { score: 1.5, epoch: 9 }, T0)).toEqual({ applied: false });
    expect(mergeGossip(local, { score: Number.NaN, epoch: 9 }, T0)).toEqual({ applied: false });
    expect(mergeGossip(local, { score: 1, epoch: -1 }, T0)).toEqual({ applied: false });
    // An epoch far ahead would pin the score against every later change.
    expect(mergeGossip(local, { score: 1, epoch: 5 + 1_000_001 }, T0)).toEqual({ applied: false });
    expect(mergeGossip(local, { score: 1, epoch: 5 + 1_000_000 }, T0).applied).toBe(true);
    expect(mergeGossip(local, { score: 1, epoch: 6.5 }, T0)).toEqual({ applied: false });
  });

  it('a merged entry never leaves the bounds and the epoch only grows', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            score: fc.integer({ min: -2000, max: 2000 }),
            epoch: fc.integer({ min: -2, max: 50 }),
          }),
        ),
        (updates) => {
          let e: ReputationEntry | undefined;
          for (const u of updates) {
            const r = mergeGossip(e, u, T0);
            if (!r.applied) continue;
            if (e) expect(r.entry.epoch).toBeGreaterThan(e.epoch);
            e = r.entry;
            expect(Math.abs(e.score)).toBeLessThanOrEqual(1000);
          }
        },
      ),
    );
  });
});

describe('reputation properties', () => {
  const step = fc.record({
    outcome: fc.constantFrom(...OUTCOMES),
    dtMs: fc.integer({ min: -HOUR, max: 48 * HOUR }),
  });

  it('stays a whole number in bounds; a client cancel never lowers it; epochs count changes', () => {
    fc.assert(
      fc.property(
        fc.array(step, { maxLength: 300 }),
        fc.double({ min: 0, max: 0.99, noNaN: true }),
        (steps, decay) => {
          const params = withParams({ provider_reputation_decay: decay });
          let e: ReputationEntry | undefined;
          let now = T0;
          let changes = 0;
          for (const { outcome, dtMs } of steps) {
            now += dtMs;
            const before = currentScore(e, now, params);
            const next = adjust(e, outcome, now, params);
            const after = currentScore(next, now, params);
            expect(Number.isInteger(after)).toBe(true);
            expect(after).toBeGreaterThanOrEqual(-1000);
            expect(after).toBeLessThanOrEqual(1000);
            if (outcome === 'client_cancel') expect(after).toBe(before);
            if (outcome === 'success') expect(after).toBeGreaterThanOrEqual(before);
            if (outcome === 'failure' || outcome === 'provider_cancel' || outcome === 'lease_expired')
              expect(after).toBeLessThanOrEqual(before);
            if (outcome !== 'client_cancel') changes++;
            e = next;
            expect(e.epoch).toBe(changes);
          }
        },
      ),
    );
  });

  it('decay only ever moves a score toward zero, never across it', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -1000, max: 1000 }),
        fc.nat(1000 * HOUR),
        fc.nat(1000 * HOUR),
        fc.double({ min: 0, max: 0.99, noNaN: true }),
        (s, a, b, decay) => {
          const params = withParams({ provider_reputation_decay: decay });
          const e = { score: s, epoch: 0, updatedAtMs: T0 };
          const [t1, t2] = a <= b ? [a, b] : [b, a];
          const x = currentScore(e, T0 + t1, params);
          const y = currentScore(e, T0 + t2, params);
          expect(Math.abs(y)).toBeLessThanOrEqual(Math.abs(x));
          expect(Math.abs(x)).toBeLessThanOrEqual(Math.abs(s));
          expect(x * s).toBeGreaterThanOrEqual(0);
          expect(y * s).toBeGreaterThanOrEqual(0);
        },
      ),
    );
  });

  it('the multiplier stays within its bounds and never rises with reputation', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -1500, max: 1500 }),
        fc.integer({ min: -1500, max: 1500 }),
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 1, max: 1000 }),
        (a, b, x, y) => {
          const [lo, hi] = x <= y ? [x / 100, y / 100] : [y / 100, x / 100];
          const params = withParams({ reputation_multiplier_min: lo, reputation_multiplier_max: hi });
          const ma = multiplierPpm(a, params);
          expect(ma).toBeGreaterThanOrEqual(Math.round(lo * 1e6));
          expect(ma).toBeLessThanOrEqual(Math.round(hi * 1e6));
          if (a <= b) expect(multiplierPpm(b, params)).toBeLessThanOrEqual(ma);
        },
      ),
    );
  });
});
