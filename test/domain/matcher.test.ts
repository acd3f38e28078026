import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  capabilityProblem,
  chooseProvider,
  jobBudget,
  lowPrioritySlots,
  NO_MATCH_REASONS,
  planMatches,
  tieRank,
  type JobNeed,
  type Provider,
} from '../../src/domain/matcher.js';
import { PRIORITIES } from '../../src/domain/priority.js';
import { effectivePriceScaled } from '../../src/domain/pricing.js';
import { multiplierPpm } from '../../src/domain/reputation.js';
import { defaultParams, validateParams, type SchedulerParams } from '../../src/domain/scheduler-params.js';
import type { Capability, Requirements } from '../../src/domain/schemas/capability.js';
import { CHALLENGE_TYPES } from '../../src/domain/schemas/payloads.js';

const P = defaultParams();

const gpuBox: Capability = {
  cpu_cores: 16,
  gpu_model: 'NVIDIA A100',
  gpu_count: 1,
  gpu_memory_mb: 81_920,
  accelerator: 'TPU',
  accelerator_memory_mb: 16_384,
  frameworks: ['torch'],
  challenge_types: ['synthetic', 'training', 'inference'],
  models: ['llama'],
};

function provider(address: string, over: Partial<Provider> = {}): Provider {
  return { address, capability: gpuBox, freeSlots: 4, pricePerUnit: 100n, freeUnits: 1000, ...over };
}

function need(over: Partial<JobNeed> = {}): JobNeed {
  return { jobId: 'j1', challengeType: 'synthetic', units: 1, budget: 10_000n, ...over };
}

function withParams(patch: object): SchedulerParams {
  const r = validateParams(patch);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.params;
}

describe('chooseProvider', () => {
  it('two equal offers at 100 with multipliers 1.0 and 0.8: the 0.8 one wins at 80, at 96 with an accelerator', () => {
    const plain = provider('cpc1plain', { reputation: 0 }); // multiplier 1.0
    const trusted = provider('cpc1trusted', { reputation: 400 }); // multiplier 0.8
    expect(multiplierPpm(0, P)).toBe(1_000_000);
    expect(multiplierPpm(400, P)).toBe(800_000);
    expect(chooseProvider(need(), [plain, trusted])).toEqual({
      ok: true,
      address: 'cpc1trusted',
      price: 100n,
      effectivePrice: 80n,
    });
    const accel = need({ units: 3, requirements: { accelerator: 'TPU' } });
    expect(chooseProvider(accel, [plain, trusted])).toEqual({
      ok: true,
      address: 'cpc1trusted',
      price: 300n, // the customer pays the provider's own price
      effectivePrice: 96n,
    });
  });

  it('weighs reputation against price', () => {
    const cheap = provider('cpc1cheap', { pricePerUnit: 90n, reputation: 0 }); // 90
    const trusted = provider('cpc1trusted', { pricePerUnit: 110n, reputation: 400 }); // 88
    expect(chooseProvider(need(), [cheap, trusted])).toMatchObject({
      address: 'cpc1trusted',
      effectivePrice: 88n,
    });
    const lessTrusted = provider('cpc1less', { pricePerUnit: 110n, reputation: 300 }); // 93.5
    expect(chooseProvider(need(), [cheap, lessTrusted])).toMatchObject({
      address: 'cpc1cheap',
      effectivePrice: 90n,
    });
  });

  it('never picks a provider with negative reputation', () => {
    const shady = provider('cpc1shady', { pricePerUnit: 1n, reputation: -1 });
    expect(chooseProvider(need(), [shady])).toEqual({ ok: false, reason: 'reputation_failure' });
    expect(chooseProvider(need(), [shady, provider('cpc1ok')])).toMatchObject({
      ok: true,
      address: 'cpc1ok',
    });
  });

  it('checks the reward against the raw price, not the discounted one', () => {
    const trusted = provider('cpc1trusted', { reputation: 1000 }); // effective 50 per unit
    expect(chooseProvider(need({ units: 2, budget: 150n }), [trusted])).toEqual({
      ok: false,
      reason: 'price_above_reward',
    });
    expect(chooseProvider(need({ units: 2, budget: 200n }), [trusted])).toMatchObject({
      ok: true,
      price: 200n,
    });
  });

  it('keeps every reason code of the first matcher and adds reputation_failure, payment_mismatch and deferred', () => {
    expect(NO_MATCH_REASONS).toEqual([
      'capability_mismatch',
      'insufficient_gpu_memory',
      'accelerator_missing',
      'payment_mismatch',
      'reputation_failure',
      'price_above_reward',
      'no_capacity',
      'no_provider',
      'deferred',
    ]);
    expect(chooseProvider(need(), [])).toEqual({ ok: false, reason: 'no_provider' });
    expect(chooseProvider(need({ challengeType: 'rendering' }), [provider('a')])).toEqual({
      ok: false,
      reason: 'capability_mismatch',
    });
    expect(chooseProvider(need({ requirements: { gpu_memory_mb: 100_000 } }), [provider('a')])).toEqual({
      ok: false,
      reason: 'insufficient_gpu_memory',
    });
    expect(chooseProvider(need({ requirements: { accelerator: 'FPGA' } }), [provider('a')])).toEqual({
      ok: false,
      reason: 'accelerator_missing',
    });
    expect(chooseProvider(need(), [provider('a', { pricePerUnit: null })])).toEqual({
      ok: false,
      reason: 'no_capacity',
    });
    expect(chooseProvider(need(), [provider('a', { freeSlots: 0 })])).toEqual({
      ok: false,
      reason: 'no_capacity',
    });
    expect(chooseProvider(need({ units: 2000, budget: 10n ** 9n }), [provider('a')])).toEqual({
      ok: false,
      reason: 'no_capacity',
    });
    // The reason that got furthest wins: a capable but full provider beats a mismatch.
    expect(
      chooseProvider(need(), [
        provider('a', { capability: { ...gpuBox, challenge_types: [] } }),
        provider('b', { freeSlots: 0 }),
      ]),
    ).toEqual({ ok: false, reason: 'no_capacity' });
  });

  it('breaks ties by a seeded order: the same seed, the same winner', () => {
    const providers = ['cpc1a', 'cpc1b', 'cpc1c', 'cpc1d'].map((a) => provider(a));
    const winners = new Set<string>();
    for (let seed = 0; seed < 64; seed++) {
      const m = chooseProvider(need(), providers, { seed });
      const again = chooseProvider(need(), [...providers].reverse(), { seed });
      expect(again).toEqual(m);
      if (m.ok) winners.add(m.address);
    }
    expect(winners.size).toBe(4);
    expect(tieRank(7, 'cpc1a')).toBe(tieRank(7, 'cpc1a'));
    expect(tieRank(7, 'cpc1a')).not.toBe(tieRank(8, 'cpc1a'));
  });

  it('still reads the first matcher’s call and budget rule', () => {
    expect(chooseProvider(need(), [provider('b'), provider('a', { pricePerUnit: 99n })])).toMatchObject({
      address: 'a',
      price: 99n,
    });
    expect(jobBudget(100n, 1, 3)).toBe(33n);
  });
});

describe('planMatches', () => {
  it('reserves slots and units as it goes', () => {
    const providers = [
      provider('cheap', { pricePerUnit: 10n, freeSlots: 2, freeUnits: 5 }),
      provider('dear'),
    ];
    const jobs = [
      need({ jobId: 'a', units: 2 }),
      need({ jobId: 'b', units: 2 }),
      need({ jobId: 'c', units: 2 }),
    ];
    const plan = planMatches(jobs, providers);
    expect(plan.assignments).toEqual([
      { jobId: 'a', address: 'cheap', price: 20n, effectivePrice: 10n },
      { jobId: 'b', address: 'cheap', price: 20n, effectivePrice: 10n },
      { jobId: 'c', address: 'dear', price: 200n, effectivePrice: 100n },
    ]);
    expect(plan.reasons.size).toBe(0);
    expect(providers[0]).toMatchObject({ freeSlots: 2, freeUnits: 5 }); // inputs untouched
    const full = planMatches(jobs, [provider('only', { freeSlots: 1 })]);
    expect(full.assignments.map((a) => a.jobId)).toEqual(['a']);
  });

  it('explains each job it could not place, and stops looking once every slot is taken', () => {
    const plan = planMatches(
      [
        need({ jobId: 'gpu', requirements: { gpu_model: 'H100' } }),
        need({ jobId: 'ok' }),
        need({ jobId: 'late' }),
      ],
      [provider('a', { freeSlots: 1 })],
    );
    expect(plan.assignments.map((a) => a.jobId)).toEqual(['ok']);
    expect([...plan.reasons]).toEqual([['gpu', 'capability_mismatch']]);
    const limited = planMatches([need({ jobId: 'x' }), need({ jobId: 'y' })], [provider('a')], {
      maxJobs: 1,
    });
    expect(limited.assignments.map((a) => a.jobId)).toEqual(['x']);
  });

  it('caps running low-priority jobs at low_priority_cap_pct of all slots, and at least one', () => {
    expect(lowPrioritySlots(0, P)).toBe(0);
    expect(lowPrioritySlots(1, P)).toBe(1);
    expect(lowPrioritySlots(10, P)).toBe(8);
    expect(lowPrioritySlots(10, withParams({ low_priority_cap_pct: 100 }))).toBe(10);
    expect(lowPrioritySlots(10, withParams({ low_priority_cap_pct: 5 }))).toBe(1);
    // 6 running (5 low) + 4 free slots: 8 low may run, so 3 more low jobs start and the 4th waits.
    const jobs = [
      ...[1, 2, 3, 4].map((i) => need({ jobId: `low${i}`, priority: 'low' })),
      need({ jobId: 'normal', priority: 'normal' }),
      need({ jobId: 'stuck', priority: 'low', challengeType: 'rendering' }),
    ];
    const plan = planMatches(jobs, [provider('a', { freeSlots: 5 })], { running: { total: 6, low: 5 } });
    expect(plan.assignments.map((a) => a.jobId)).toEqual(['low1', 'low2', 'low3', 'normal']);
    expect([...plan.reasons]).toEqual([
      ['low4', 'deferred'],
      ['stuck', 'capability_mismatch'], // an impossible job says why, not that it is deferred
    ]);
  });
});

// Random markets: a handful of machine shapes and job requirements that sometimes fit.
const capability: fc.Arbitrary<Capability> = fc.record({
  cpu_cores: fc.constantFrom(1, 4, 16),
  gpu_model: fc.constantFrom(null, 'NVIDIA A100', 'RTX 4090'),
  gpu_count: fc.constantFrom(0, 1, 2),
  gpu_memory_mb: fc.constantFrom(0, 24_576, 81_920),
  accelerator: fc.constantFrom(null, 'TPU' as const, 'FPGA' as const),
  accelerator_memory_mb: fc.constantFrom(0, 8_192, 16_384),
  frameworks: fc.subarray(['torch', 'jax']),
  challenge_types: fc.subarray([...CHALLENGE_TYPES], { minLength: 1 }),
  models: fc.constant([]),
});
const requirements: fc.Arbitrary<Requirements | null> = fc.option(
  fc.oneof(
    fc.record({ cpu_cores: fc.constantFrom(2, 8) }),
    fc.record({ gpu_model: fc.constantFrom('A100', '4090') }),
    fc.record({ gpu_memory_mb: fc.constantFrom(16_000, 40_000) }),
    fc.record({
      accelerator: fc.constantFrom('TPU' as const, 'FPGA' as const),
      accelerator_memory_mb: fc.constantFrom(4_096, 12_000),
    }),
    fc.record({ frameworks: fc.subarray(['torch', 'jax'], { minLength: 1 }) }),
  ),
  { freq: 2 },
);
const providerArb = (i: number): fc.Arbitrary<Provider> =>
  fc.record({
    address: fc.constant(`cpc1p${i}`),
    capability,
    freeSlots: fc.integer({ min: 0, max: 3 }),
    pricePerUnit: fc.option(fc.bigInt({ min: 1n, max: 50n }), { freq: 8 }),
    freeUnits: fc.integer({ min: 0, max: 20 }),
    reputation: fc.integer({ min: -200, max: 1000 }),
  });
const providersArb = fc
  .integer({ min: 0, max: 12 })
  .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => providerArb(i))));
const jobsArb = fc.array(
  fc.record({
    jobId: fc.uuid(),
    challengeType: fc.constantFrom(...CHALLENGE_TYPES),
    requirements,
    units: fc.integer({ min: 1, max: 8 }),
    budget: fc.bigInt({ min: 0n, max: 300n }),
    priority: fc.constantFrom(...PRIORITIES),
  }),
  { maxLength: 40 },
);

describe('matching properties', () => {
  it('the winner qualifies and no qualifying provider is cheaper', () => {
    fc.assert(
      fc.property(providersArb, jobsArb, fc.nat(), (providers, jobs, seed) => {
        for (const j of jobs) {
          const m = chooseProvider(j, providers, { seed });
          const qualifies = (p: Provider) =>
            capabilityProblem(p.capability, j) === null &&
            (p.reputation ?? 0) >= 0 &&
            p.pricePerUnit !== null &&
            p.pricePerUnit * BigInt(j.units) <= j.budget &&
            p.freeSlots >= 1 &&
            p.freeUnits >= j.units;
          const key = (p: Provider) =>
            effectivePriceScaled(p.pricePerUnit as bigint, multiplierPpm(p.reputation ?? 0, P), false);
          const ok = providers.filter(qualifies);
          expect(m.ok).toBe(ok.length > 0);
          if (!m.ok) continue;
          const winner = providers.find((p) => p.address === m.address) as Provider;
          expect(qualifies(winner)).toBe(true);
          for (const p of ok) expect(key(winner)).toBeLessThanOrEqual(key(p));
        }
      }),
    );
  });

  it('a plan never uses an incapable or distrusted provider, never oversubscribes, and honours the low cap', () => {
    fc.assert(
      fc.property(
        providersArb,
        jobsArb,
        fc.nat(),
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 1, max: 100 }),
        (providers, jobs, seed, runningLow, pct) => {
          const params = withParams({ low_priority_cap_pct: pct });
          const running = { total: runningLow + 2, low: runningLow };
          const plan = planMatches(jobs, providers, { seed, params, running });
          const byAddress = new Map(providers.map((p) => [p.address, p]));
          const slots = new Map<string, number>();
          const units = new Map<string, number>();
          const jobById = new Map(jobs.map((j) => [j.jobId, j]));
          let low = 0;
          for (const a of plan.assignments) {
            const p = byAddress.get(a.address) as Provider;
            const j = jobById.get(a.jobId) as JobNeed;
            expect(capabilityProblem(p.capability, j)).toBeNull();
            expect(p.reputation ?? 0).toBeGreaterThanOrEqual(0);
            expect(a.price).toBe((p.pricePerUnit as bigint) * BigInt(j.units));
            expect(a.price).toBeLessThanOrEqual(j.budget);
            slots.set(a.address, (slots.get(a.address) ?? 0) + 1);
            units.set(a.address, (units.get(a.address) ?? 0) + j.units);
            if (j.priority === 'low') low++;
            expect(plan.reasons.has(a.jobId)).toBe(false);
          }
          for (const [address, n] of slots) expect(n).toBeLessThanOrEqual(byAddress.get(address)!.freeSlots);
          for (const [address, n] of units) expect(n).toBeLessThanOrEqual(byAddress.get(address)!.freeUnits);
          const capacity =
            running.total +
            providers
              .filter((p) => p.pricePerUnit !== null)
              .reduce((n, p) => n + Math.max(0, p.freeSlots), 0);
          if (low > 0)
            expect(runningLow + low).toBeLessThanOrEqual(
              Math.max(runningLow, lowPrioritySlots(capacity, params)),
            );
        },
      ),
    );
  });

  // A reference planner: chooseProvider job by job over copies whose room shrinks as it goes. The
  // real planner (ranked once, indexed by type, exhausted providers dropped, failed shapes
  // remembered) must give exactly the same plan, reasons included.
  function modelPlan(
    jobs: JobNeed[],
    providers: Provider[],
    seed: number,
    running: { total: number; low: number },
    params: SchedulerParams,
  ) {
    const room = providers.map((p) => ({ ...p }));
    const free = () =>
      room.filter((p) => p.pricePerUnit !== null).reduce((n, p) => n + Math.max(0, p.freeSlots), 0);
    const lowAllowed = lowPrioritySlots(running.total + free(), params);
    let low = running.low;
    const assignments: { jobId: string; address: string; price: bigint; effectivePrice: bigint }[] = [];
    const reasons = new Map<string, string>();
    for (const j of jobs) {
      if (free() === 0) break;
      const m = chooseProvider(j, room, { seed, params });
      if (!m.ok) {
        reasons.set(j.jobId, m.reason);
        continue;
      }
      if (j.priority === 'low' && low >= lowAllowed) {
        reasons.set(j.jobId, 'deferred');
        continue;
      }
      if (j.priority === 'low') low++;
      const p = room.find((x) => x.address === m.address) as Provider;
      p.freeSlots--;
      p.freeUnits -= j.units;
      assignments.push({
        jobId: j.jobId,
        address: m.address,
        price: m.price,
        effectivePrice: m.effectivePrice,
      });
    }
    return { assignments, reasons };
  }

  it('plans exactly what choosing job by job would', () => {
    fc.assert(
      fc.property(
        providersArb,
        jobsArb,
        fc.nat(),
        fc.integer({ min: 0, max: 4 }),
        (providers, jobs, seed, runningLow) => {
          const running = { total: runningLow + 1, low: runningLow };
          expect(planMatches(jobs, providers, { seed, running })).toEqual(
            modelPlan(jobs, providers, seed, running, P),
          );
        },
      ),
    );
  });

  it('plans exactly what choosing job by job would in a crowded market of one-slot machines', () => {
    const crowd = fc.array(
      fc.record({
        units: fc.constantFrom(1, 10),
        price: fc.bigInt({ min: 1n, max: 5n }),
        reputation: fc.constantFrom(-1, 0, 400),
      }),
      { minLength: 50, maxLength: 150 },
    );
    const work = fc.array(
      fc.record({
        units: fc.constantFrom(1, 5),
        budget: fc.constantFrom(5n, 50n),
        priority: fc.constantFrom(...PRIORITIES),
      }),
      { minLength: 50, maxLength: 200 },
    );
    fc.assert(
      fc.property(crowd, work, fc.nat(), (ps, js, seed) => {
        const providers = ps.map((p, i) =>
          provider(`cpc1m${i}`, {
            freeSlots: 1,
            freeUnits: p.units,
            pricePerUnit: p.price,
            reputation: p.reputation,
          }),
        );
        const jobs = js.map((j, i) => need({ jobId: `j${i}`, ...j }));
        const running = { total: 10, low: 2 };
        expect(planMatches(jobs, providers, { seed, running })).toEqual(
          modelPlan(jobs, providers, seed, running, P),
        );
      }),
      { numRuns: 50 },
    );
  });
});
