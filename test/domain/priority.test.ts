import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  agedKey,
  compareQueued,
  effectivePriority,
  isPriority,
  PRIORITIES,
  PRIORITY_LEVEL,
  priorityMiss,
  PriorityQueue,
  type Priority,
  type Queued,
} from '../../src/domain/priority.js';
import { defaultParams } from '../../src/domain/scheduler-params.js';

const P = defaultParams(); // aging_seconds_per_level = 30
const T0 = 1_700_000_000_000;
let nextSeq = 0;
const job = (priority: Priority, atMs: number, id = `j${nextSeq}`): Queued => ({
  id,
  priority,
  enqueuedAtMs: atMs,
  seq: nextSeq++,
});
const drain = (q: PriorityQueue<Queued>) => {
  const out: string[] = [];
  for (let j = q.pop(); j; j = q.pop()) out.push(j.id);
  return out;
};

describe('priority order', () => {
  it('knows the three priorities', () => {
    expect(PRIORITIES).toEqual(['low', 'normal', 'high']);
    expect(isPriority('high')).toBe(true);
    expect(isPriority('urgent')).toBe(false);
    expect(isPriority(2)).toBe(false);
  });

  it('puts priority first, then arrival, and lets waiting make up one level per 30 s', () => {
    const oldLow = job('low', T0);
    expect(compareQueued(job('high', T0 + 59_999), oldLow, P)).toBeLessThan(0);
    // A low job 60 s older than a high one has the same effective priority: the level decides.
    expect(compareQueued(job('high', T0 + 60_000), oldLow, P)).toBeLessThan(0);
    expect(compareQueued(job('high', T0 + 60_001), oldLow, P)).toBeGreaterThan(0);
    expect(compareQueued(job('normal', T0 + 30_001), oldLow, P)).toBeGreaterThan(0);
    // Older high-priority jobs run before newer low-priority ones.
    expect(compareQueued(job('high', T0), job('low', T0 + 1), P)).toBeLessThan(0);
    // Same level: first come, first served; equal times by sequence.
    const a = job('normal', T0);
    const b = job('normal', T0);
    expect(compareQueued(a, b, P)).toBeLessThan(0);
    expect(compareQueued(b, a, P)).toBeGreaterThan(0);
    expect(agedKey(job('high', T0), P)).toBe(T0 - 60_000);
  });

  it('reports effective priority as level plus levels earned by waiting', () => {
    expect(effectivePriority(job('low', T0), T0 + 45_000, P)).toBe(1.5);
    expect(effectivePriority(job('high', T0), T0, P)).toBe(2);
    expect(effectivePriority(job('normal', T0), T0 - 5_000, P)).toBe(1);
  });

  it('counts a priority miss for normal and high jobs that waited more than 5 s', () => {
    expect(priorityMiss(job('normal', T0), T0 + 5_000, P)).toBe(false);
    expect(priorityMiss(job('normal', T0), T0 + 5_001, P)).toBe(true);
    expect(priorityMiss(job('high', T0), T0 + 60_000, P)).toBe(true);
    expect(priorityMiss(job('low', T0), T0 + 3_600_000, P)).toBe(false);
  });
});

describe('PriorityQueue', () => {
  it('pops in aged order and counts depths', () => {
    const q = new PriorityQueue<Queued>(P);
    q.push(job('low', T0, 'low-old'));
    q.push(job('normal', T0 + 10_000, 'normal'));
    q.push(job('high', T0 + 20_000, 'high'));
    q.push(job('low', T0 + 20_000, 'low-new'));
    q.push(job('high', T0 + 75_000, 'high-late')); // key T0 + 15 s: ahead of low-new (T0 + 20 s)
    expect(q.depths()).toEqual({ low: 2, normal: 1, high: 2 });
    expect(q.size).toBe(5);
    expect([...q.ordered()].map((j) => j.id)).toEqual(['high', 'normal', 'low-old', 'high-late', 'low-new']);
    expect(q.size).toBe(5);
    expect(drain(q)).toEqual(['high', 'normal', 'low-old', 'high-late', 'low-new']);
    expect(q.pop()).toBeUndefined();
    expect(q.depths()).toEqual({ low: 0, normal: 0, high: 0 });
  });

  it('removes jobs, takes them back, and refuses a job queued twice', () => {
    const q = new PriorityQueue<Queued>(P);
    const a = job('normal', T0, 'a');
    q.push(a);
    q.push(job('normal', T0 + 1, 'b'));
    expect(() => q.push(a)).toThrow(/already queued/);
    expect(q.remove('a')).toBe(a);
    expect(q.remove('a')).toBeUndefined();
    expect(q.has('a')).toBe(false);
    q.push(a); // put back, e.g. after its lease expired: it keeps its place by arrival
    expect(q.get('a')).toBe(a);
    expect(drain(q)).toEqual(['a', 'b']);
  });

  it('inserts a job older than its level’s tail in place', () => {
    const q = new PriorityQueue<Queued>(P);
    q.push(job('low', T0 + 3, 'c'));
    q.push(job('low', T0 + 1, 'a'));
    q.push(job('low', T0 + 2, 'b'));
    q.push(job('low', T0 + 4, 'd'));
    expect(drain(q)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('iterates lazily and skips jobs removed while iterating', () => {
    const q = new PriorityQueue<Queued>(P);
    for (let i = 0; i < 10; i++) q.push(job('normal', T0 + i, `n${i}`));
    const seen: string[] = [];
    for (const j of q.ordered()) {
      seen.push(j.id);
      q.remove(j.id);
      q.remove(`n${Number(j.id.slice(1)) + 1}`);
    }
    expect(seen).toEqual(['n0', 'n2', 'n4', 'n6', 'n8']);
    expect(q.size).toBe(0);
  });

  it('stays in order across compactions of a long queue', () => {
    const q = new PriorityQueue<Queued>(P);
    for (let i = 0; i < 5000; i++) q.push(job(PRIORITIES[i % 3] as Priority, T0 + i * 10));
    const popped: Queued[] = [];
    for (let i = 0; i < 3000; i++) popped.push(q.pop() as Queued);
    for (let i = 0; i < 1000; i++) q.push(job('high', T0 + 50_000 + i));
    for (let j = q.pop(); j; j = q.pop()) popped.push(j);
    expect(popped.length).toBe(6000);
    for (let i = 1; i < 3000; i++) expect(compareQueued(popped[i - 1]!, popped[i]!, P)).toBeLessThan(0);
  });
});

const priority = fc.constantFrom(...PRIORITIES);

describe('queue properties', () => {
  it('pops exactly what sorting by the comparator would, with removals and late pushes', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('push' as const), priority, atMs: fc.integer({ min: 0, max: 300_000 }) }),
      fc.record({ kind: fc.constant('pop' as const) }),
      fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const q = new PriorityQueue<Queued>(P);
        let model: Queued[] = [];
        for (const o of ops) {
          if (o.kind === 'push') {
            const j = job(o.priority, T0 + o.atMs);
            q.push(j);
            model.push(j);
          } else if (o.kind === 'pop') {
            model.sort((a, b) => compareQueued(a, b, P));
            expect(q.pop()).toBe(model.shift());
          } else if (model.length > 0) {
            const victim = model[o.pick % model.length]!;
            expect(q.remove(victim.id)).toBe(victim);
            model = model.filter((j) => j !== victim);
          }
          expect(q.size).toBe(model.length);
        }
        model.sort((a, b) => compareQueued(a, b, P));
        expect([...q.ordered()]).toEqual(model);
      }),
    );
  });

  it('holds priority order up to aging: a lower job only goes first after waiting its levels out', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(priority, fc.integer({ min: 0, max: 200_000 })), { maxLength: 150 }),
        (arrivals) => {
          const q = new PriorityQueue<Queued>(P);
          for (const [p, at] of arrivals) q.push(job(p, T0 + at));
          const agingMs = P.aging_seconds_per_level * 1000;
          for (let popped = q.pop(); popped; popped = q.pop()) {
            for (const rest of q.ordered()) {
              const lead = PRIORITY_LEVEL[rest.priority] - PRIORITY_LEVEL[popped.priority];
              expect(rest.enqueuedAtMs - popped.enqueuedAtMs).toBeGreaterThanOrEqual(lead * agingMs);
            }
          }
        },
      ),
      { numRuns: 50 },
    );
  });

  it('starves nobody: under a steady stream of arrivals every job starts within a bound', () => {
    // Each tick (1 s) some jobs arrive and the market starts `service` of them. A job can only be
    // overtaken by jobs that arrive within two aging periods after it, so its wait is bounded by
    // the queue it found plus those arrivals, whatever the mix of priorities.
    fc.assert(
      fc.property(
        fc.array(fc.array(priority, { maxLength: 3 }), { minLength: 1, maxLength: 400 }),
        fc.integer({ min: 1, max: 3 }),
        (ticks, service) => {
          const q = new PriorityQueue<Queued & { tick: number; queueAhead: number }>(P);
          const agingTicks = P.aging_seconds_per_level;
          const arrivedBy = (t: number) => ticks.slice(0, t + 1).reduce((n, a) => n + a.length, 0);
          for (let t = 0; t < ticks.length + 10_000 && (t < ticks.length || q.size > 0); t++) {
            for (const p of ticks[t] ?? []) {
              const j = job(p, T0 + t * 1000);
              q.push({ ...j, tick: t, queueAhead: q.size });
            }
            for (let s = 0; s < service; s++) {
              const started = q.pop();
              if (!started) break;
              const overtakers =
                arrivedBy(Math.min(ticks.length - 1, started.tick + 2 * agingTicks)) -
                arrivedBy(started.tick);
              const bound = Math.ceil((started.queueAhead + overtakers + 1) / service) + 1;
              expect(t - started.tick).toBeLessThanOrEqual(bound);
            }
          }
          expect(q.size).toBe(0);
        },
      ),
      { numRuns: 100 },
    );
  });
});
