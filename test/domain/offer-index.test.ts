import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildOfferIndex,
  chooseProvider,
  planMatches,
  planOnIndex,
  type JobNeed,
  type MatchCapability,
  type Provider,
} from '../../src/domain/matcher.js';
import { capabilityKey, shapeKey } from '../../src/domain/offer-index.js';
import { PRIORITIES } from '../../src/domain/priority.js';
import type { Capability, Requirements } from '../../src/domain/schemas/capability.js';
import { CHALLENGE_TYPES } from '../../src/domain/schemas/payloads.js';

const base: Capability = {
  cpu_cores: 16,
  gpu_model: 'NVIDIA A100',
  gpu_count: 1,
  gpu_memory_mb: 81_920,
  accelerator: null,
  accelerator_memory_mb: 0,
  frameworks: ['torch'],
  challenge_types: ['synthetic', 'training'],
  models: [],
};

// A few machine shapes shared by many providers, so groups hold many members and ties are common.
const shapes: MatchCapability[] = [
  base,
  { ...base, gpu_model: 'RTX 4090', gpu_memory_mb: 24_576, frameworks: ['torch', 'jax'] },
  { ...base, gpu_model: null, gpu_count: 0, gpu_memory_mb: 0, cpu_cores: 4, challenge_types: ['synthetic'] },
  { ...base, accelerator: 'TPU', accelerator_memory_mb: 16_384, challenge_types: [...CHALLENGE_TYPES] },
  { ...base, gpu_count: 2, challenge_types: ['inference', 'training'], models: ['llama'] },
  // Offers paid partly in IT: the same machine in another payment mix is another group.
  { ...base, fee_pct_ct: 25 },
  { ...base, gpu_model: null, gpu_count: 0, gpu_memory_mb: 0, cpu_cores: 4, fee_pct_ct: 0 },
];

const providerArb = (i: number): fc.Arbitrary<Provider> =>
  fc.record({
    address: fc.constant(`cpc1p${i}`),
    capability: fc.constantFrom(...shapes),
    freeSlots: fc.integer({ min: -1, max: 3 }),
    pricePerUnit: fc.option(fc.bigInt({ min: 1n, max: 6n }), { freq: 10 }),
    freeUnits: fc.integer({ min: 0, max: 12 }),
    reputation: fc.constantFrom(-5, 0, 0, 250, 400, 1000),
  });
const providersArb = fc
  .integer({ min: 0, max: 80 })
  .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => providerArb(i))));

const requirements: fc.Arbitrary<Requirements | null> = fc.option(
  fc.oneof(
    fc.record({ cpu_cores: fc.constantFrom(2, 8) }),
    fc.record({ gpu_model: fc.constantFrom('A100', '4090', 'H100') }),
    fc.record({ gpu_memory_mb: fc.constantFrom(16_000, 40_000) }),
    fc.record({
      accelerator: fc.constant('TPU' as const),
      accelerator_memory_mb: fc.constantFrom(4_096, 32_000),
    }),
    fc.record({ frameworks: fc.subarray(['torch', 'jax', 'TORCH'], { minLength: 1 }) }),
  ),
  { freq: 3 },
);
const jobsArb = fc.array(
  fc.record({
    jobId: fc.uuid(),
    challengeType: fc.constantFrom(...CHALLENGE_TYPES),
    model: fc.constantFrom(undefined, 'llama', 'mistral'),
    requirements,
    units: fc.integer({ min: 1, max: 5 }),
    budget: fc.bigInt({ min: 0n, max: 40n }),
    priority: fc.constantFrom(...PRIORITIES),
    feePctCt: fc.constantFrom(undefined, 100, 100, 25, 0),
  }),
  { maxLength: 60 },
);

describe('offer index', () => {
  it('picks the provider a scan of every provider picks, and gives the same reason when none', () => {
    fc.assert(
      fc.property(providersArb, jobsArb, fc.nat(), (providers, jobs, seed) => {
        const index = buildOfferIndex(providers, { seed });
        for (const j of jobs) {
          const scan = chooseProvider(j, providers, { seed });
          const hit = index.firstFit(index.candidates(j), j);
          expect(hit?.p.address).toBe(scan.ok ? scan.address : undefined);
          // One job alone on a fresh index: the plan's reason is the scan's reason.
          const plan = planMatches([j], providers, { seed, running: { total: 0, low: 0 } });
          if (!scan.ok && plan.assignments.length === 0 && plan.reasons.size > 0)
            expect(plan.reasons.get(j.jobId)).toBe(scan.reason);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('plans across ticks on a kept index as one plan over the whole queue would', () => {
    const urgent = jobsArb.map((js) => js.map((j) => ({ ...j, priority: 'high' as const })));
    fc.assert(
      fc.property(providersArb, urgent, fc.nat(), fc.nat(), (providers, jobs, seed, cut) => {
        const k = jobs.length === 0 ? 0 : cut % (jobs.length + 1);
        const whole = planMatches(jobs, providers, { seed });
        const index = buildOfferIndex(providers, { seed });
        const first = planOnIndex(jobs.slice(0, k), index, { seed });
        const running = { total: first.assignments.length, low: 0 };
        const second = planOnIndex(jobs.slice(k), index, { seed, running });
        expect([...first.assignments, ...second.assignments]).toEqual(whole.assignments);
        expect(new Map([...first.reasons, ...second.reasons])).toEqual(whole.reasons);
        expect(providers.every((p) => p.freeSlots <= 3)).toBe(true); // inputs untouched
      }),
      { numRuns: 200 },
    );
  });

  it('gives back what a refused commit released', () => {
    fc.assert(
      fc.property(providersArb, jobsArb, fc.nat(), (providers, jobs, seed) => {
        const urgent = jobs.map((j) => ({ ...j, priority: 'normal' as const }));
        const index = buildOfferIndex(providers, { seed });
        const refused = planOnIndex(urgent, index, { seed });
        const byId = new Map(urgent.map((j) => [j.jobId, j]));
        for (const a of refused.assignments) index.release(index.entry(a.address)!, byId.get(a.jobId)!.units);
        expect(planOnIndex(urgent, index, { seed })).toEqual(planMatches(urgent, providers, { seed }));
      }),
      { numRuns: 100 },
    );
  });

  it('plans a crowded market of small offers as choosing job by job would', () => {
    // Hundreds of alike machines, many with few units: walks skip blocks of entries too small
    // for a job and drop exhausted ones, and must still land where a scan of all would.
    const crowd = fc.array(
      fc.record({
        slots: fc.integer({ min: 0, max: 3 }),
        units: fc.integer({ min: 0, max: 8 }),
        price: fc.bigInt({ min: 1n, max: 4n }),
        reputation: fc.constantFrom(-1, 0, 500),
      }),
      { minLength: 100, maxLength: 400 },
    );
    const work = fc.array(
      fc.record({ units: fc.integer({ min: 1, max: 8 }), budget: fc.bigInt({ min: 0n, max: 40n }) }),
      { minLength: 100, maxLength: 500 },
    );
    fc.assert(
      fc.property(crowd, work, fc.nat(), (ps, js, seed) => {
        const providers: Provider[] = ps.map((p, i) => ({
          address: `cpc1c${i}`,
          capability: base,
          freeSlots: p.slots,
          freeUnits: p.units,
          pricePerUnit: p.price,
          reputation: p.reputation,
        }));
        const jobs: JobNeed[] = js.map((j, i) => ({ jobId: `j${i}`, challengeType: 'synthetic', ...j }));
        const room = providers.map((p) => ({ ...p }));
        const expected: { jobId: string; address: string }[] = [];
        for (const j of jobs) {
          if (room.every((p) => p.freeSlots <= 0)) break;
          const m = chooseProvider(j, room, { seed });
          if (!m.ok) continue;
          const p = room.find((x) => x.address === m.address)!;
          p.freeSlots--;
          p.freeUnits -= j.units;
          expected.push({ jobId: j.jobId, address: m.address });
        }
        const plan = planMatches(jobs, providers, { seed });
        expect(plan.assignments.map((a) => ({ jobId: a.jobId, address: a.address }))).toEqual(expected);
      }),
      { numRuns: 60 },
    );
  });

  it('keys tell apart what the capability rule tells apart', () => {
    expect(capabilityKey({ ...base, models: ['a,b'] })).not.toBe(
      capabilityKey({ ...base, models: ['a', 'b'] }),
    );
    expect(capabilityKey({ ...base, gpu_model: null })).not.toBe(
      capabilityKey({ ...base, gpu_model: 'null' }),
    );
    expect(capabilityKey({ ...base })).toBe(capabilityKey({ ...base, frameworks: ['torch'] }));
    const job: JobNeed = { jobId: 'j', challengeType: 'inference', units: 1, budget: 1n };
    expect(shapeKey(job)).not.toBe(shapeKey({ ...job, model: '' }));
    expect(shapeKey({ ...job, requirements: { gpu_memory_mb: 1 } })).not.toBe(
      shapeKey({ ...job, requirements: { gpu_count: 1 } }),
    );
    expect(shapeKey({ ...job, units: 5, budget: 9n })).toBe(shapeKey(job)); // size is not shape
  });
});
