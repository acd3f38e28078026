// What a provider sees of its own work: counters kept from the agent's events (events.ts) and a
// summary line the CLI prints every minute. "Earned" is the units of the jobs whose results the
// market accepted, at this worker's own offer price: what the provider asked, before the
// market's split; the ledger (GET /accounts/…) has what was paid.
//
//   job.started     remembers the job's units
//   job.finished    jobs done, units done
//   job.failed      jobs failed
//   result.accepted earned += units × price_per_unit

import { formatAmount, parseAmount } from '../domain/money.js';
import type { WorkerAgentEventBus } from './events.js';

export interface SummaryCounts {
  jobsDone: number;
  jobsFailed: number;
  units: number;
  /** Base units of the price's asset (18 decimals); 0 without an offer price. */
  earned: bigint;
}

export interface SummarySnapshot {
  /** Since the last snapshot taken with `lap`. */
  interval: SummaryCounts;
  total: SummaryCounts;
  running: number;
}

const zero = (): SummaryCounts => ({ jobsDone: 0, jobsFailed: 0, units: 0, earned: 0n });

/** A started job's units are kept until its result is accepted or it fails; at most this many. */
const MAX_TRACKED = 10_000;

export class WorkerSummary {
  private readonly units = new Map<string, number>();
  private readonly running = new Set<string>();
  private total = zero();
  private interval = zero();
  private readonly price: bigint;
  private readonly unsubscribe: () => void;

  /** `pricePerUnit` is the offer's decimal string; without one nothing counts as earned. */
  constructor(events: WorkerAgentEventBus, pricePerUnit?: string) {
    const parsed = pricePerUnit === undefined ? null : parseAmount(pricePerUnit);
    this.price = parsed?.ok ? parsed.value : 0n;
    const add = (f: (c: SummaryCounts) => void) => {
      f(this.total);
      f(this.interval);
    };
    const handlers = {
      'job.started': (e: { jobId: string; units: number }) => {
        this.running.add(e.jobId);
        if (this.units.size >= MAX_TRACKED) this.units.delete(this.units.keys().next().value as string);
        this.units.set(e.jobId, e.units);
      },
      'job.finished': (e: { jobId: string }) => {
        this.running.delete(e.jobId);
        const u = this.units.get(e.jobId) ?? 0;
        add((c) => {
          c.jobsDone++;
          c.units += u;
        });
      },
      'job.failed': (e: { jobId: string }) => {
        this.running.delete(e.jobId);
        this.units.delete(e.jobId);
        add((c) => c.jobsFailed++);
      },
      'job.cancelled': (e: { jobId: string }) => {
        this.running.delete(e.jobId);
        this.units.delete(e.jobId);
      },
      'result.accepted': (e: { jobId: string }) => {
        const u = this.units.get(e.jobId);
        this.units.delete(e.jobId);
        if (u !== undefined) add((c) => (c.earned += BigInt(u) * this.price));
      },
    } as const;
    for (const [name, fn] of Object.entries(handlers)) events.on(name as never, fn as never);
    this.unsubscribe = () => {
      for (const [name, fn] of Object.entries(handlers)) events.off(name as never, fn as never);
    };
  }

  /** The counts so far; `lap` starts a new interval. */
  snapshot(lap = false): SummarySnapshot {
    const snap = { interval: { ...this.interval }, total: { ...this.total }, running: this.running.size };
    if (lap) this.interval = zero();
    return snap;
  }

  close(): void {
    this.unsubscribe();
  }
}

/** The summary as one line for a person, e.g. "last 1 min: 3 jobs, 12 units, earned 0.12 | …". */
export function formatSummary(s: SummarySnapshot, intervalMs: number): string {
  const part = (c: SummaryCounts) =>
    `${c.jobsDone} job${c.jobsDone === 1 ? '' : 's'}${c.jobsFailed ? ` (${c.jobsFailed} failed)` : ''}, ` +
    `${c.units} unit${c.units === 1 ? '' : 's'}, earned ${formatAmount(c.earned)}`;
  const minutes = intervalMs / 60_000;
  const span = Number.isInteger(minutes) ? `${minutes} min` : `${Math.round(intervalMs / 1000)} s`;
  return `last ${span}: ${part(s.interval)} | total: ${part(s.total)} | running ${s.running}`;
}

/** The summary as log fields (amounts as decimal strings). */
export function summaryFields(s: SummarySnapshot): Record<string, unknown> {
  const fields = (c: SummaryCounts) => ({
    jobs_done: c.jobsDone,
    jobs_failed: c.jobsFailed,
    units: c.units,
    earned: formatAmount(c.earned),
  });
  return { interval: fields(s.interval), total: fields(s.total), running: s.running };
}
