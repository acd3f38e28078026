import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultParams, validateParams, type SchedulerParams } from '../../src/domain/scheduler-params.js';
import {
  canarySlice,
  checkMethod,
  claimsAgree,
  creditedUnits,
  disputeKind,
  disputeProblem,
  draw,
  drawKey,
  hardwareStanding,
  NEW_PROVIDER,
  onProbation,
  restingTypes,
  verdict,
  verifierShares,
  verifyRate,
  withCooldown,
  type Delivered,
} from '../../src/domain/verification.js';

const P = defaultParams();

function withParams(patch: object): SchedulerParams {
  const r = validateParams(patch);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.params;
}

describe('how each type is checked', () => {
  it('re-computes reference byte work and small synthetic work, replicates what only a runner can redo', () => {
    const m = (challengeType: string, payload: object, runnerId?: string, deterministic?: boolean) =>
      checkMethod({ challengeType, payload: payload as Record<string, unknown>, runnerId, deterministic }, P);
    expect(m('transcode', {}, 'blake3')).toBe('market');
    expect(m('gpuhash', {})).toBe('market');
    expect(m('transcode', {}, 'command:ffmpeg')).toBe('replicate');
    expect(m('synthetic', { seed: 'ab', matrix_size: 8, iterations: 2 })).toBe('market');
    expect(m('synthetic', { seed: 'ab', matrix_size: 1024, iterations: 100 })).toBe('replicate');
    expect(m('inference', { temperature: 0 })).toBe('replicate');
    expect(m('inference', {})).toBe('replicate');
    expect(m('inference', { temperature: 0.7 }, 'openai')).toBe('none');
    expect(m('inference', { temperature: 0.7 }, 'llama.cpp')).toBe('replicate');
    expect(m('rendering', {}, 'command:blender', true)).toBe('replicate');
    expect(m('rendering', {}, 'command:blender', false)).toBe('none');
    expect(m('training', {}, 'command:train')).toBe('none');
  });
});

describe('sampling', () => {
  it('checks everything on probation, then less as reputation rises, never outside [min, max]', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: -1000, max: 1000 }), (a, b) => {
        expect(verifyRate(a, true, P)).toBe(1);
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        expect(verifyRate(hi, false, P)).toBeLessThanOrEqual(verifyRate(lo, false, P));
        expect(verifyRate(a, false, P)).toBeGreaterThanOrEqual(P.verify_rate_min);
        expect(verifyRate(a, false, P)).toBeLessThanOrEqual(P.verify_rate_max);
      }),
    );
    expect(verifyRate(0, false, P)).toBe(P.verify_rate_max);
    expect(verifyRate(1000, false, P)).toBeCloseTo(P.verify_rate_min, 12);
    expect(verifyRate(0, true, withParams({ verification_enabled: false }))).toBe(0);
  });

  it('ends probation after probation_jobs verified results, a quarter of them with a stake', () => {
    expect(onProbation(19, false, P)).toBe(true);
    expect(onProbation(20, false, P)).toBe(false);
    expect(onProbation(4, true, P)).toBe(true);
    expect(onProbation(5, true, P)).toBe(false);
  });

  it('draws in [0, 1), the same for the same inputs, unpredictable without the key, near the asked rate', () => {
    const key = drawKey(new Uint8Array(32).fill(7));
    const other = drawKey(new Uint8Array(32).fill(8));
    fc.assert(
      fc.property(fc.uuid(), (id) => {
        const d = draw(key, id, 'verify');
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThan(1);
        expect(draw(key, id, 'verify')).toBe(d);
        expect(draw(other, id, 'verify')).not.toBe(d);
      }),
    );
    let hits = 0;
    for (let i = 0; i < 4000; i++) if (draw(key, `job-${i}`, 'verify') < 0.25) hits++;
    expect(hits).toBeGreaterThan(850);
    expect(hits).toBeLessThan(1150);
    for (let n = 1; n < 50; n++) expect(canarySlice(key, 'job', n)).toBeLessThan(n);
  });
});

describe('verdicts', () => {
  const r = (address: string, resultHash: string): Delivered => ({ address, resultHash });

  it('accepts what two independent providers agree on; the rest is the minority', () => {
    expect(verdict([r('a', 'x'), r('b', 'x')], 5)).toEqual({
      kind: 'accepted',
      accepted: 'x',
      agreeing: ['a', 'b'],
      minority: [],
    });
    expect(verdict([r('a', 'y'), r('b', 'x'), r('c', 'x')], 5)).toEqual({
      kind: 'accepted',
      accepted: 'x',
      agreeing: ['b', 'c'],
      minority: ['a'],
    });
    expect(verdict([r('a', 'y'), r('b', 'x')], 5)).toEqual({ kind: 'more' });
    // One provider twice is one vote.
    expect(verdict([r('a', 'x'), r('a', 'x')], 5)).toEqual({ kind: 'more' });
    expect(verdict([r('a', 'x'), r('b', 'y'), r('c', 'z')], 3)).toEqual({
      kind: 'failed',
      minority: ['a', 'b', 'c'],
    });
  });

  it('never accepts an answer an honest majority did not give, and never calls an honest provider a cheat', () => {
    // Honest providers all give "h"; cheats give answers of their own (collusion aside).
    fc.assert(
      fc.property(
        fc.array(fc.boolean(), { minLength: 2, maxLength: 7 }),
        fc.integer({ min: 3, max: 9 }),
        (honesty, max) => {
          const results = honesty.map((honest, i) => r(`p${i}`, honest ? 'h' : `lie${i}`));
          const v = verdict(results, max);
          if (v.kind === 'accepted') {
            expect(v.accepted).toBe('h');
            for (const m of v.minority) expect(honesty[Number(m.slice(1))]).toBe(false);
          }
          if (honesty.filter(Boolean).length >= 2 && v.kind !== 'accepted')
            expect.fail('two honest answers must win');
        },
      ),
    );
  });

  it('needs failure_claims_needed independent claimants', () => {
    expect(claimsAgree(['a'], P)).toBe(false);
    expect(claimsAgree(['a', 'a'], P)).toBe(false);
    expect(claimsAgree(['a', 'b'], P)).toBe(true);
  });
});

describe('paying verifiers', () => {
  it('divides the validators’ share exactly between provider verifiers; the market keeps none of it', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 24n }),
        fc.array(fc.constantFrom('a', 'b', 'c', 'market'), { maxLength: 4 }),
        (amount, verifiers) => {
          const shares = verifierShares(amount, verifiers);
          const paid = [...shares.values()].reduce((s, v) => s + v, 0n);
          const providers = verifiers.filter((v) => v !== 'market');
          expect(shares.has('market')).toBe(false);
          expect(paid).toBe(providers.length === 0 ? 0n : amount);
          for (const v of shares.values()) expect(v).toBeGreaterThanOrEqual(0n);
        },
      ),
    );
  });
});

describe('claims and measurements', () => {
  const shown = (jobs: number, units: number, ms: number) => ({
    ...NEW_PROVIDER,
    verifiedJobs: jobs,
    verifiedUnits: units,
    verifiedMs: ms,
  });

  it('credits probation_units on probation, and past it at most capacity_claim_factor × the measured rate', () => {
    expect(creditedUnits(1_000_000_000, NEW_PROVIDER, P)).toBe(P.probation_units);
    expect(creditedUnits(3, NEW_PROVIDER, P)).toBe(3);
    expect(creditedUnits(1_000_000_000, shown(20, 40, 20_000), P)).toBe(P.capacity_claim_factor * 2);
    expect(creditedUnits(1_000_000_000, shown(20, 4, 20_000), P)).toBe(P.probation_units);
    expect(creditedUnits(5, shown(20, 40, 20_000), P)).toBe(5);
    expect(creditedUnits(100, { ...shown(50, 40, 20_000), fraud: true }, P)).toBe(0);
    expect(creditedUnits(100, NEW_PROVIDER, withParams({ verification_enabled: false }))).toBe(100);
  });

  it('calls a GPU claim implausible when its verified work runs at CPU speed', () => {
    const p = withParams({ gpu_min_units_per_s: 10 });
    expect(hardwareStanding(8, shown(20, 40, 20_000), p)).toBe('implausible');
    expect(hardwareStanding(0, shown(20, 40, 20_000), p)).toBe('verified');
    expect(hardwareStanding(8, shown(20, 400, 20_000), p)).toBe('verified');
    expect(hardwareStanding(8, NEW_PROVIDER, p)).toBe('claimed');
    expect(hardwareStanding(8, shown(20, 40, 20_000), P)).toBe('verified');
  });

  it('rests a type until its cool-down ends', () => {
    const c = withCooldown({}, 'rendering', 1000, P);
    expect([...restingTypes(c, 1000)]).toEqual(['rendering']);
    expect([...restingTypes(c, 1000 + P.probation_cooldown_secs * 1000)]).toEqual([]);
  });
});

describe('disputes', () => {
  const done = { status: 'completed', completedAtMs: 1_000_000 };
  const unchecked = { verification: 'sampled_out' as const };

  it('takes a completed task’s unchecked result within dispute_window_secs, and nothing else', () => {
    const P2 = withParams({ dispute_window_secs: 60 });
    expect(disputeProblem(done, unchecked, 1_060_000, P2)).toBeNull();
    expect(disputeProblem(done, unchecked, 1_060_001, P2)).toBe('dispute_window_closed');
    expect(disputeProblem({ status: 'in_progress', completedAtMs: null }, unchecked, 1_000_000, P2)).toBe(
      'task_not_completed',
    );
    expect(disputeProblem(done, { verification: 'verified' }, 1_000_000, P2)).toBe('already_verified');
    expect(disputeProblem(done, { verification: 'pending' }, 1_000_000, P2)).toBe('already_checking');
    expect(disputeProblem(done, { verification: 'disputed' }, 1_000_000, P2)).toBe('already_checking');
  });

  it('audits what can be re-derived and records the rest', () => {
    expect(disputeKind('market')).toBe('audit');
    expect(disputeKind('replicate')).toBe('audit');
    expect(disputeKind('none')).toBe('recorded');
  });
});
