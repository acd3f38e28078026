import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ACCELERATOR_PREMIUM,
  admissionParamsJson,
  comfortThreshold,
  defaultParams,
  paramsJsonText,
  validateParams,
  type SchedulerParams,
} from '../../src/domain/scheduler-params.js';

function ok(patch: unknown, base?: SchedulerParams): SchedulerParams {
  const r = validateParams(patch, base);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.params;
}

function problems(patch: unknown) {
  const r = validateParams(patch);
  return r.ok ? [] : r.problems;
}

describe('scheduler parameters', () => {
  it('defaults are the spec values', () => {
    const p = defaultParams();
    expect(p).toMatchObject({
      reputation_multiplier_min: 0.5,
      reputation_multiplier_max: 1.0,
      enable_preempt: false,
      priority_miss_seconds: 5,
      min_capacity: 10,
      fair_share_cap: 0.25,
      burst_quota: 30,
      burst_refill_rate: 0.5,
      usage_window_secs: 60,
      price_board_window: 100,
      reputation_gossip: true,
    });
    expect(ACCELERATOR_PREMIUM).toBe(1.2);
    expect(p.lane_of).toEqual({
      inference: 'consumer',
      training: 'industrial',
      rendering: 'industrial',
      synthetic: 'industrial',
      transcode: 'industrial',
      gpuhash: 'industrial',
    });
    expect(Object.isFrozen(p)).toBe(true);
    expect(Object.isFrozen(p.lane_of)).toBe(true);
  });

  it('prints the admission budgets exactly as `compute-market params` shows them', () => {
    expect(paramsJsonText(admissionParamsJson(defaultParams()))).toBe(
      '{\n  "min_capacity": 10,\n  "fair_share_cap": 0.25,\n  "burst_quota": 30.0,\n  "burst_refill_rate": 0.5\n}',
    );
    expect(JSON.parse(paramsJsonText(defaultParams()))).toEqual(defaultParams());
  });

  it('merges a patch over the defaults, or over the params in force', () => {
    const p = ok({ fair_share_cap: 0.5, lane_of: { inference: 'industrial' } });
    expect(p.fair_share_cap).toBe(0.5);
    expect(p.lane_of.inference).toBe('industrial');
    expect(p.lane_of.training).toBe('industrial');
    expect(p.burst_quota).toBe(30);
    const q = ok({ burst_quota: 5 }, p);
    expect(q).toMatchObject({ fair_share_cap: 0.5, burst_quota: 5 });
    expect(q.lane_of.inference).toBe('industrial');
    expect(Object.isFrozen(q)).toBe(true);
    expect(ok({})).toEqual(defaultParams());
  });

  it('names every problem with its path', () => {
    expect(problems({ fair_share_cap: 2, bogus: 1 })).toEqual([
      { path: 'bogus', message: expect.any(String) },
      { path: 'fair_share_cap', message: expect.any(String) },
    ]);
    expect(problems({ reputation_multiplier_min: 0.9, reputation_multiplier_max: 0.8 })).toEqual([
      { path: 'reputation_multiplier_min', message: 'must not exceed reputation_multiplier_max' },
    ]);
    expect(problems({ lane_of: { inference: 'fast' } })[0]?.path).toBe('lane_of/inference');
    expect(problems({ lane_of: { mining: 'industrial' } })[0]?.path).toBe('lane_of/mining');
    expect(problems({ low_priority_cap_pct: 0 })[0]?.path).toBe('low_priority_cap_pct');
    expect(problems({ low_priority_cap_pct: 50.5 })[0]?.path).toBe('low_priority_cap_pct');
    expect(problems({ provider_reputation_decay: 1 })[0]?.path).toBe('provider_reputation_decay');
    expect(problems({ fair_share_cap: 0 })[0]?.path).toBe('fair_share_cap');
    expect(problems({ burst_quota: Number.NaN })[0]?.path).toBe('burst_quota');
    expect(problems({ burst_quota: '30' })[0]?.path).toBe('burst_quota');
    expect(problems({ comfort_threshold_p90: '-1' })[0]?.path).toBe('comfort_threshold_p90');
    expect(problems({ comfort_threshold_p90: '0.0000000000000000001' })).toEqual([
      { path: 'comfort_threshold_p90', message: expect.stringContaining('18 decimals') },
    ]);
    expect(problems(null)).toEqual([{ path: '', message: 'must be an object' }]);
    expect(problems([1])).toEqual([{ path: '', message: 'must be an object' }]);
  });

  it('reads the comfort threshold as base units', () => {
    expect(comfortThreshold(defaultParams())).toBe(10n ** 18n);
    expect(comfortThreshold(ok({ comfort_threshold_p90: '0.25' }))).toBe(25n * 10n ** 16n);
  });

  it('accepts any multiplier bounds in range with min ≤ max, and no others', () => {
    fc.assert(
      fc.property(
        fc.double({ min: -1, max: 12, noNaN: true }),
        fc.double({ min: -1, max: 12, noNaN: true }),
        (a, b) => {
          const r = validateParams({ reputation_multiplier_min: a, reputation_multiplier_max: b });
          const inRange = (x: number) => x >= 0.01 && x <= 10;
          expect(r.ok).toBe(inRange(a) && inRange(b) && a <= b);
        },
      ),
    );
  });
});
