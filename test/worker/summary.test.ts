// The provider's summary: jobs, units and earnings counted from the agent's events, per interval
// and in total, earned only for results the market accepted, at the offer's price.

import { describe, expect, it } from 'vitest';
import { WorkerAgentEventBus } from '../../src/worker/events.js';
import { formatSummary, summaryFields, WorkerSummary } from '../../src/worker/summary.js';

function started(bus: WorkerAgentEventBus, jobId: string, units: number) {
  bus.emit('job.started', { jobId, challengeType: 'transcode', slices: units, units });
}

describe('worker summary', () => {
  it('counts jobs and units, and earns at the price when the market accepts', () => {
    const bus = new WorkerAgentEventBus();
    const summary = new WorkerSummary(bus, '0.01');
    started(bus, 'a', 3);
    started(bus, 'b', 5);
    started(bus, 'c', 7);
    expect(summary.snapshot().running).toBe(3);
    bus.emit('job.finished', { jobId: 'a', resultHash: 'h', proofs: [] });
    bus.emit('job.failed', { jobId: 'b', reason: 'runner_error', message: 'no' });
    bus.emit('result.accepted', { jobId: 'a' });
    const first = summary.snapshot(true);
    expect(first.interval).toEqual({ jobsDone: 1, jobsFailed: 1, units: 3, earned: 3n * 10n ** 16n });
    expect(first.running).toBe(1);
    expect(formatSummary(first, 60_000)).toBe(
      'last 1 min: 1 job (1 failed), 3 units, earned 0.03 | total: 1 job (1 failed), 3 units, earned 0.03 | running 1',
    );

    bus.emit('job.finished', { jobId: 'c', resultHash: 'h', proofs: [] });
    bus.emit('result.accepted', { jobId: 'c' });
    bus.emit('result.accepted', { jobId: 'c' }); // a repeat earns nothing more
    const second = summary.snapshot(true);
    expect(second.interval).toEqual({ jobsDone: 1, jobsFailed: 0, units: 7, earned: 7n * 10n ** 16n });
    expect(second.total).toEqual({ jobsDone: 2, jobsFailed: 1, units: 10, earned: 10n ** 17n });
    expect(summaryFields(second)).toEqual({
      interval: { jobs_done: 1, jobs_failed: 0, units: 7, earned: '0.07' },
      total: { jobs_done: 2, jobs_failed: 1, units: 10, earned: '0.1' },
      running: 0,
    });
    expect(formatSummary(summary.snapshot(), 30_000)).toMatch(/^last 30 s: 0 jobs, 0 units, earned 0.0 \|/);

    summary.close();
    started(bus, 'd', 1);
    expect(summary.snapshot().running).toBe(0);
  });

  it('earns nothing without an offer price, and forgets cancelled jobs', () => {
    const bus = new WorkerAgentEventBus();
    const summary = new WorkerSummary(bus);
    started(bus, 'a', 2);
    bus.emit('job.cancelled', { jobId: 'a' });
    started(bus, 'b', 4);
    bus.emit('job.finished', { jobId: 'b', resultHash: 'h', proofs: [] });
    bus.emit('result.accepted', { jobId: 'b' });
    expect(summary.snapshot().total).toEqual({ jobsDone: 1, jobsFailed: 0, units: 4, earned: 0n });
    expect(summary.snapshot().running).toBe(0);
  });
});
