import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkParties, type PartyUsage } from '../../src/domain/admission.js';
import { PRIORITIES } from '../../src/domain/priority.js';
import { defaultParams, validateParams, type SchedulerParams } from '../../src/domain/scheduler-params.js';
import type { Capability } from '../../src/domain/schemas/capability.js';
import { bondFor } from '../../src/domain/scheduling/bonds.js';
import {
  consumerPressure,
  planTick,
  providerSaturated,
  type TickJob,
  type TickProvider,
  type TickSnapshot,
} from '../../src/domain/scheduling/plan-tick.js';

const NOW = 1_000_000_000;
const LEASE = 30_000;

function withParams(patch: object): SchedulerParams {
  const r = validateParams(patch);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.params;
}

const box: Capability = {
  cpu_cores: 8,
  gpu_model: null,
  gpu_count: 0,
  gpu_memory_mb: 0,
  accelerator: null,
  accelerator_memory_mb: 0,
  frameworks: [],
  challenge_types: ['synthetic', 'inference', 'training', 'transcode'],
  models: ['llama'],
};

function provider(address: string, over: Partial<TickProvider> = {}): TickProvider {
  return { address, capability: box, freeSlots: 2, pricePerUnit: 10n, freeUnits: 1000, ...over };
}

let seq = 0;
function job(over: Partial<TickJob> = {}): TickJob {
  seq++;
  const id = over.jobId ?? `job-${seq}`;
  return {
    id,
    jobId: id,
    taskId: `task-${id}`,
    challengeType: 'synthetic',
    units: 1,
    budget: 1000n,
    priority: 'normal',
    enqueuedAtMs: NOW - 1000,
    seq,
    deadlineMs: null,
    ...over,
  };
}

function snapshot(over: Partial<TickSnapshot> = {}): TickSnapshot {
  return {
    nowMs: NOW,
    providers: [provider('cpc1a')],
    running: { total: 0, low: 0 },
    heads: { consumer: [], industrial: [] },
    mode: 'loose',
    capacity: 1000,
    leaseMs: LEASE,
    ...over,
  };
}

describe('planTick', () => {
  it('plans consumer work first, then gives batch work what is left, at the provider quote', () => {
    const inference = job({ challengeType: 'inference', model: 'llama' });
    const batch = [job({ challengeType: 'training' }), job({ challengeType: 'training' })];
    const plan = planTick(
      snapshot({ heads: { consumer: [inference], industrial: batch } }),
      defaultParams(),
      1,
    );
    expect(plan.leases.map((l) => [l.jobId, l.lane])).toEqual([
      [inference.jobId, 'consumer'],
      [batch[0]?.jobId, 'industrial'],
    ]);
    expect(plan.reasons.get(batch[1]?.jobId as string)).toBe('no_capacity');
    for (const l of plan.leases) {
      expect(l.quotePerUnit).toBe(10n);
      expect(l.leaseExpiresAtMs).toBe(NOW + LEASE);
    }
  });

  it('defers the whole industrial lane while tight, and plans no batch work', () => {
    const batch = job({ challengeType: 'training' });
    const plan = planTick(
      snapshot({ mode: 'tight', heads: { consumer: [], industrial: [batch] } }),
      defaultParams(),
      1,
    );
    expect(plan.leases).toEqual([]);
    expect(plan.deferredLane).toBe(true);
    expect(plan.reasons.has(batch.jobId)).toBe(false);
  });

  it('bonds industrial leases with time to meet their deadline, and not the others', () => {
    const params = withParams({ sla_bond_pct: 10 });
    const far = job({ challengeType: 'training', units: 5, deadlineMs: NOW + 10 * LEASE });
    const near = job({ challengeType: 'training', deadlineMs: NOW + LEASE / 2 });
    const consumer = job({ challengeType: 'inference', model: 'llama' });
    const plan = planTick(
      snapshot({
        providers: [provider('cpc1a', { freeSlots: 3 })],
        heads: { consumer: [consumer], industrial: [far, near] },
      }),
      params,
      1,
    );
    const bond = new Map(plan.leases.map((l) => [l.jobId, l.bond]));
    expect(bond.get(far.jobId)).toBe(bondFor(10n, 5, 10));
    expect(bond.get(near.jobId)).toBe(0n);
    expect(bond.get(consumer.jobId)).toBe(0n);
  });

  it('passes over a provider that could not post a bond lately, or is far over its fair share', () => {
    const params = withParams({ admission_enabled: true });
    const saturated: PartyUsage = { usage: 1e12, burst: 0, atMs: NOW };
    expect(providerSaturated(saturated, 1000, NOW, params)).toBe(true);
    const batch = job({ challengeType: 'training' });
    const plan = planTick(
      snapshot({
        providers: [
          provider('cpc1bonds', { pricePerUnit: 1n, unbondableUntil: NOW + 1 }),
          provider('cpc1greedy', { pricePerUnit: 2n, usage: saturated }),
          provider('cpc1ok', { pricePerUnit: 3n }),
        ],
        heads: { consumer: [], industrial: [batch] },
      }),
      params,
      1,
    );
    expect(plan.leases.map((l) => l.address)).toEqual(['cpc1ok']);
    // The lease is charged against the provider's fair share as the admission rule would.
    const expected = checkParties([undefined], 1, 1000, NOW, params);
    expect(expected.ok && plan.usage.get('cpc1ok')).toEqual(expected.ok && expected.parties[0]);
  });

  it('flags a normal job that waited past priority_miss_seconds, never a low one', () => {
    const late = job({ enqueuedAtMs: NOW - 6000 });
    const lateLow = job({ enqueuedAtMs: NOW - 6000, priority: 'low' });
    const plan = planTick(
      snapshot({ heads: { consumer: [late, lateLow], industrial: [] } }),
      defaultParams(),
      1,
    );
    const miss = new Map(plan.leases.map((l) => [l.jobId, l.priorityMiss]));
    expect(miss.get(late.jobId)).toBe(true);
    expect(miss.get(lateLow.jobId)).toBe(false);
  });

  it('rotates ties between equal offers with the seed', () => {
    const providers = ['cpc1a', 'cpc1b', 'cpc1c', 'cpc1d'].map((a) => provider(a, { freeSlots: 1 }));
    const winners = new Set<string>();
    for (let seed = 0; seed < 32; seed++) {
      const plan = planTick(
        snapshot({ providers, heads: { consumer: [job()], industrial: [] } }),
        defaultParams(),
        seed,
      );
      winners.add(plan.leases[0]?.address as string);
    }
    expect(winners.size).toBeGreaterThan(1);
  });
});

describe('consumerPressure', () => {
  it('counts only consumer jobs some provider with an offer could run', () => {
    const served = job({ challengeType: 'inference', model: 'llama', enqueuedAtMs: NOW - 40_000 });
    const unserved = job({ challengeType: 'inference', model: 'nobody', enqueuedAtMs: NOW - 90_000 });
    expect(consumerPressure([served, unserved], [provider('cpc1a')], NOW)).toEqual({
      queued: 1,
      ageSecs: 40,
    });
    // A provider without an offer serves nothing yet.
    expect(consumerPressure([served], [provider('cpc1a', { pricePerUnit: null })], NOW)).toEqual({
      queued: 0,
      ageSecs: 0,
    });
  });
});

describe('planTick properties', () => {
  const providerArb = fc.record({
    slots: fc.integer({ min: 0, max: 4 }),
    units: fc.integer({ min: 0, max: 20 }),
    price: fc.integer({ min: 1, max: 50 }),
    reputation: fc.integer({ min: -50, max: 1000 }),
    types: fc.subarray(['synthetic', 'training', 'inference'] as const, { minLength: 1 }),
  });
  const jobArb = fc.record({
    type: fc.constantFrom('synthetic', 'training', 'inference'),
    units: fc.integer({ min: 1, max: 8 }),
    budget: fc.integer({ min: 0, max: 400 }),
    priority: fc.constantFrom(...PRIORITIES),
    age: fc.integer({ min: 0, max: 60_000 }),
  });

  it('never oversubscribes a provider, leases each job once, and gives every other job a reason', () => {
    fc.assert(
      fc.property(
        fc.array(providerArb, { maxLength: 5 }),
        fc.array(jobArb, { maxLength: 30 }),
        fc.constantFrom<'loose' | 'tight'>('loose', 'tight'),
        fc.integer({ min: 0, max: 1000 }),
        (ps, js, mode, seed) => {
          const params = defaultParams();
          const providers = ps.map((p, i) =>
            provider(`cpc1p${i}`, {
              freeSlots: p.slots,
              freeUnits: p.units,
              pricePerUnit: BigInt(p.price),
              reputation: p.reputation,
              capability: { ...box, challenge_types: [...p.types] },
            }),
          );
          const jobs = js.map((j) =>
            job({
              challengeType: j.type,
              model: j.type === 'inference' ? 'llama' : undefined,
              units: j.units,
              budget: BigInt(j.budget),
              priority: j.priority,
              enqueuedAtMs: NOW - j.age,
            }),
          );
          const heads = {
            consumer: jobs.filter((j) => j.challengeType === 'inference'),
            industrial: jobs.filter((j) => j.challengeType !== 'inference'),
          };
          const plan = planTick(snapshot({ providers, heads, mode }), params, seed);
          const byId = new Map(jobs.map((j) => [j.jobId, j]));
          const leased = new Set<string>();
          const used = new Map<string, { slots: number; units: number }>();
          for (const l of plan.leases) {
            expect(leased.has(l.jobId)).toBe(false);
            leased.add(l.jobId);
            const j = byId.get(l.jobId) as TickJob;
            const p = providers.find((x) => x.address === l.address) as TickProvider;
            // Capable, reputable, affordable.
            expect(p.capability.challenge_types).toContain(j.challengeType);
            expect(p.reputation ?? 0).toBeGreaterThanOrEqual(0);
            expect((p.pricePerUnit as bigint) * BigInt(j.units)).toBeLessThanOrEqual(j.budget);
            expect(l.lane === 'industrial' && mode === 'tight').toBe(false);
            const u = used.get(l.address) ?? { slots: 0, units: 0 };
            u.slots++;
            u.units += j.units;
            used.set(l.address, u);
          }
          for (const p of providers) {
            const u = used.get(p.address) ?? { slots: 0, units: 0 };
            expect(u.slots).toBeLessThanOrEqual(p.freeSlots);
            expect(u.units).toBeLessThanOrEqual(p.freeUnits);
          }
          for (const j of [...heads.consumer, ...(mode === 'tight' ? [] : heads.industrial)])
            expect(leased.has(j.jobId) !== plan.reasons.has(j.jobId)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});
