import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  admitIndustrial,
  CAPACITY_SAMPLES,
  checkAndRecord,
  checkParties,
  comfortMode,
  decayUsage,
  emptyAdmission,
  estimateCapacity,
  fairShareCap,
  laneOf,
  pruneAdmission,
  recordCapacity,
  type AdmissionState,
  type PartyUsage,
} from '../../src/domain/admission.js';
import { defaultParams, validateParams, type SchedulerParams } from '../../src/domain/scheduler-params.js';

const P = defaultParams();
const T0 = 1_700_000_000_000;
const CPC = 10n ** 18n;

function withParams(patch: object): SchedulerParams {
  const r = validateParams(patch);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.params;
}

describe('lanes and the comfort guard', () => {
  it('puts inference in the consumer lane and batch work in the industrial one', () => {
    expect(laneOf('inference', P)).toBe('consumer');
    for (const t of ['training', 'rendering', 'transcode', 'synthetic', 'gpuhash'])
      expect(laneOf(t, P)).toBe('industrial');
    expect(laneOf('mystery', P)).toBe('industrial');
    expect(laneOf('rendering', withParams({ lane_of: { rendering: 'consumer' } }))).toBe('consumer');
  });

  it('goes tight when consumers pay more than the threshold or wait too long', () => {
    expect(comfortMode({ consumerFeeP90: null, consumerAgeSecs: 0 }, P)).toBe('loose');
    expect(comfortMode({ consumerFeeP90: CPC, consumerAgeSecs: 30 }, P)).toBe('loose');
    expect(comfortMode({ consumerFeeP90: CPC + 1n, consumerAgeSecs: 0 }, P)).toBe('tight');
    expect(comfortMode({ consumerFeeP90: 1n, consumerAgeSecs: 30.5 }, P)).toBe('tight');
    expect(comfortMode({ consumerFeeP90: null, consumerAgeSecs: 31 }, P)).toBe('tight');
  });
});

describe('capacity estimate', () => {
  it('averages the latest samples', () => {
    let s: number[] = [];
    for (let i = 1; i <= 10; i++) s = recordCapacity(s, i * 10);
    expect(s).toEqual([30, 40, 50, 60, 70, 80, 90, 100]);
    expect(s.length).toBe(CAPACITY_SAMPLES);
    expect(estimateCapacity(s)).toBe(65);
    expect(estimateCapacity([])).toBe(0);
    expect(() => recordCapacity([], -1)).toThrow(RangeError);
  });

  it('starts afresh at the first capacity after none, and averages a drop in slowly', () => {
    let s: number[] = [];
    for (let i = 0; i < 5; i++) s = recordCapacity(s, 0);
    s = recordCapacity(s, 80);
    expect(estimateCapacity(s)).toBe(80);
    s = recordCapacity(s, 0);
    expect(estimateCapacity(s)).toBe(40);
  });
});

describe('fair share and burst', () => {
  it('decays usage linearly over the window and refills the burst bucket', () => {
    const u: PartyUsage = { usage: 60, burst: 10, atMs: T0 };
    expect(decayUsage(u, T0 + 15_000, P)).toEqual({ usage: 45, burst: 17.5, atMs: T0 + 15_000 });
    expect(decayUsage(u, T0 + 60_000, P)).toEqual({ usage: 0, burst: 30, atMs: T0 + 60_000 });
    expect(decayUsage(u, T0 + 90_000, P)).toEqual({ usage: 0, burst: 30, atMs: T0 + 90_000 });
    expect(decayUsage(u, T0 - 5_000, P)).toEqual(u); // the clock went back: nothing changes
    expect(decayUsage(undefined, T0, P)).toEqual({ usage: 0, burst: 30, atMs: T0 });
  });

  it('follows the worked example: cap, then burst, then refusals', () => {
    // Capacity 20 units/s over a 60 s window: the cap is 25% of 1200 = 300 unit-seconds.
    expect(fairShareCap(20, P)).toBe(300);
    let buyer: PartyUsage | undefined;
    const check = (demand: number, now = T0) => {
      const r = checkParties([buyer], demand, 20, now, P);
      if (r.ok) buyer = r.parties[0];
      return r.ok ? 'ok' : r.reason;
    };
    for (let i = 0; i < 15; i++) expect(check(20)).toBe('ok');
    expect(buyer).toEqual({ usage: 300, burst: 30, atMs: T0 });
    expect(check(20)).toBe('ok'); // over the cap: paid from the burst bucket
    expect(buyer).toEqual({ usage: 320, burst: 10, atMs: T0 });
    expect(check(10)).toBe('ok');
    expect(buyer).toEqual({ usage: 330, burst: 0, atMs: T0 });
    expect(check(1)).toBe('fair_share'); // the bucket is empty: the fair share refuses
    // Two seconds later: usage 330 × 58/60 = 319, one token back.
    expect(check(2, T0 + 2_000)).toBe('burst_exhausted');
    expect(check(1, T0 + 2_000)).toBe('ok');
    expect(buyer).toEqual({ usage: 320, burst: 0, atMs: T0 + 2_000 });
  });

  it('refuses for capacity below min_capacity or a job bigger than the market', () => {
    expect(checkParties([undefined], 1, 9, T0, P)).toEqual({ ok: false, reason: 'capacity' });
    expect(checkParties([undefined], 21, 20, T0, P)).toEqual({ ok: false, reason: 'capacity' });
    expect(checkParties([undefined], 20, 20, T0, P).ok).toBe(true);
    expect(() => checkParties([undefined], -1, 20, T0, P)).toThrow(RangeError);
  });

  it('holds a provider to its share too, and records nothing when either party fails', () => {
    let state: AdmissionState = emptyAdmission();
    for (let i = 0; i < 15; i++) {
      const r = checkAndRecord(state, `buyer${i}`, 'cpc1big', 20, 20, T0, P);
      if (!r.ok) throw new Error(r.reason);
      state = r.state;
    }
    expect(state.providers.get('cpc1big')?.usage).toBe(300);
    const before = state;
    const over = checkAndRecord(state, 'fresh', 'cpc1big', 20, 20, T0, withParams({ burst_quota: 0 }));
    expect(over).toEqual({ ok: false, reason: 'fair_share' });
    expect(state).toBe(before);
    expect(state.buyers.has('fresh')).toBe(false);
    // At submission there is no provider yet: only the buyer is checked.
    const r = checkAndRecord(state, 'fresh', null, 20, 20, T0, P);
    expect(r.ok && r.state.buyers.get('fresh')?.usage).toBe(20);
    expect(r.ok && r.state.providers).toBe(state.providers);
  });

  it('prunes records that decayed to nothing', () => {
    let state = emptyAdmission();
    const r = checkAndRecord(state, 'b', 'p', 5, 20, T0, P);
    if (!r.ok) throw new Error(r.reason);
    state = r.state;
    expect(pruneAdmission(state, T0 + 30_000, P).buyers.size).toBe(1);
    const pruned = pruneAdmission(state, T0 + 60_000, P);
    expect(pruned.buyers.size).toBe(0);
    expect(pruned.providers.size).toBe(0);
  });
});

describe('industrial admission', () => {
  it('rejects for capacity, rejects over budget, defers while tight (recording the demand), else admits', () => {
    const s = emptyAdmission();
    const job = { buyer: 'b', provider: null, demand: 5 };
    expect(admitIndustrial(s, job, 'loose', 5, T0, P)).toEqual({ decision: 'rejected', reason: 'capacity' });
    const deferred = admitIndustrial(s, job, 'tight', 20, T0, P);
    expect(deferred).toMatchObject({ decision: 'deferred', reason: 'tight' });
    if (deferred.decision !== 'deferred') return;
    expect(deferred.state.buyers.get('b')?.usage).toBe(5);
    // Over the cap with a bucket that holds a token but cannot pay 5: the burst is exhausted.
    const tightGreedy = withParams({ fair_share_cap: 0.001, burst_quota: 1 });
    expect(admitIndustrial(s, job, 'tight', 20, T0, tightGreedy)).toEqual({
      decision: 'rejected',
      reason: 'burst_exhausted',
    });
    // With no bucket at all, it is the fair share that refuses.
    const noBurst = withParams({ fair_share_cap: 0.001, burst_quota: 0 });
    expect(admitIndustrial(s, job, 'tight', 20, T0, noBurst)).toEqual({
      decision: 'rejected',
      reason: 'fair_share',
    });
    const admitted = admitIndustrial(s, job, 'loose', 20, T0, P);
    expect(admitted.decision).toBe('admitted');
    if (admitted.decision !== 'admitted') return;
    expect(admitted.state.buyers.get('b')?.usage).toBe(5);
    const greedy = withParams({ fair_share_cap: 0.001, burst_quota: 1 });
    expect(admitIndustrial(s, job, 'loose', 20, T0, greedy)).toEqual({
      decision: 'rejected',
      reason: 'burst_exhausted',
    });
  });
});

describe('admission properties', () => {
  const step = fc.record({
    dtMs: fc.integer({ min: -1_000, max: 20_000 }),
    buyer: fc.constantFrom('b1', 'b2', 'b3'),
    provider: fc.constantFrom('p1', 'p2', null),
    demand: fc.double({ min: 0, max: 40, noNaN: true }),
  });

  it('usage never exceeds cap plus burst quota, the bucket stays in [0, quota], refusals change nothing', () => {
    fc.assert(
      fc.property(
        fc.array(step, { maxLength: 200 }),
        fc.integer({ min: 10, max: 60 }),
        fc.constantFrom(0.5, 5, 50), // refill rates below, at and above burst_quota / window
        fc.constantFrom(0.05, 0.25, 1),
        (steps, capacity, rate, share) => {
          const params = withParams({ burst_refill_rate: rate, fair_share_cap: share });
          const ceiling = fairShareCap(capacity, params) + params.burst_quota;
          let state = emptyAdmission();
          let now = T0;
          for (const s of steps) {
            now += s.dtMs;
            const r = checkAndRecord(state, s.buyer, s.provider, s.demand, capacity, now, params);
            if (!r.ok) continue;
            state = r.state;
            for (const u of [...state.buyers.values(), ...state.providers.values()]) {
              expect(u.usage).toBeLessThanOrEqual(ceiling + 1e-9);
              expect(u.burst).toBeGreaterThanOrEqual(0);
              expect(u.burst).toBeLessThanOrEqual(params.burst_quota);
            }
          }
        },
      ),
    );
  });
});
