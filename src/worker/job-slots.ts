// The agent's running jobs and the credit they leave: free slots = slots − running jobs (none
// while draining). A job beyond the credit is refused at once, never queued, because the market
// promised not to send it and queueing would hide that bug behind a lease expiry. Jobs run
// independently of the connection; what they produce goes to the agent's `deliver`.

import type { Logger } from 'pino';
import type { Clock } from '../domain/clock.js';
import type { BatchedResult, JobFailed, JobMsg, Progress } from '../domain/schemas/worker.js';
import type { WorkerAgentEventBus } from './events.js';
import { failedMessage, ShutdownAbort, type JobExecutor, type JobOutcome } from './job-executor.js';

export interface JobSlotsOptions {
  slots: number;
  executor: JobExecutor;
  events: WorkerAgentEventBus;
  log: Logger;
  clock: Clock;
  /** The least time between two progress messages of one job (the last slice always reports, unless it is the only one). */
  progressIntervalMs: number;
  /** Sends a progress message if connected; progress is never queued. */
  sendProgress: (msg: Progress) => void;
  /** Takes each finished job's result or failure, to send now or when connected again. */
  deliver: (msg: BatchedResult | JobFailed) => void;
}

interface RunningJob {
  controller: AbortController;
  /** Cancelled by the market: the lease is no longer ours, so heartbeats stop listing it. */
  cancelled: boolean;
  lastProgressAt: number;
  settled: Promise<void>;
}

export class JobSlots {
  private readonly running = new Map<string, RunningJob>();
  /** Set by a shutdown: no new jobs, and no free slots announced. */
  draining = false;

  constructor(private readonly opts: JobSlotsOptions) {}

  get freeSlots(): number {
    return this.draining ? 0 : Math.max(0, this.opts.slots - this.running.size);
  }

  /** Jobs whose leases this agent holds (running and not cancelled). */
  get leasedJobs(): string[] {
    return [...this.running].filter(([, j]) => !j.cancelled).map(([id]) => id);
  }

  get runningCount(): number {
    return this.running.size;
  }

  /**
   * Starts the job and returns null, or returns the job_failed that refuses it. A job already
   * running (the market re-sent it) is ignored: null, and it keeps running once.
   */
  accept(job: JobMsg): JobFailed | null {
    const { log } = this.opts;
    if (this.running.has(job.job_id)) {
      log.warn({ job_id: job.job_id }, 'the market sent a job that is already running; ignored');
      return null;
    }
    if (this.draining) return failedMessage(job.job_id, 'shutdown', 'the worker is shutting down');
    if (this.running.size >= this.opts.slots) {
      const text = `no free slot: all ${this.opts.slots} slots are busy (the market sent more jobs than free_slots)`;
      log.warn({ job_id: job.job_id }, text);
      return failedMessage(job.job_id, 'runner_error', text);
    }
    const entry: RunningJob = {
      controller: new AbortController(),
      cancelled: false,
      lastProgressAt: 0,
      settled: Promise.resolve(),
    };
    this.running.set(job.job_id, entry);
    log.info({ job_id: job.job_id, type: job.challenge_type, slices: job.slices.length }, 'job started');
    this.opts.events.emit('job.started', {
      jobId: job.job_id,
      challengeType: job.challenge_type,
      slices: job.slices.length,
      units: job.units,
    });
    entry.settled = this.opts.executor
      .execute(job, entry.controller.signal, (done, total) => this.progress(job.job_id, entry, done, total))
      .then((outcome) => this.finished(job.job_id, outcome));
    return null;
  }

  /** The market cancelled the job: abort it; its runner's end sends nothing. */
  cancel(jobId: string, reason: string): void {
    const entry = this.running.get(jobId);
    if (!entry || entry.cancelled) {
      this.opts.log.debug({ job_id: jobId }, 'cancel for a job that is not running');
      return;
    }
    entry.cancelled = true;
    this.opts.log.info({ job_id: jobId, reason }, 'cancelling job');
    entry.controller.abort(new Error(`cancelled by the market: ${reason}`));
  }

  /** Aborts every running job as `shutdown` and waits up to ms for the runners to notice. */
  async abortAll(ms: number): Promise<void> {
    for (const job of this.running.values()) job.controller.abort(new ShutdownAbort());
    await this.settledWithin(ms);
    if (this.running.size > 0)
      this.opts.log.error(
        { jobs: [...this.running.keys()] },
        'runners did not stop after abort; leaving them',
      );
  }

  /** Waits for running jobs to settle, or for ms at most. */
  async settledWithin(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
    const all = async () => {
      while (this.running.size > 0) await Promise.all([...this.running.values()].map((j) => j.settled));
    };
    await Promise.race([all(), expired]);
    clearTimeout(timer);
  }

  private progress(jobId: string, entry: RunningJob, done: number, total: number): void {
    this.opts.events.emit('job.progress', { jobId, done, total });
    // A one-slice job has nothing between 0 and done: its result says it.
    if (total === 1) return;
    const now = this.opts.clock.nowMs();
    if (done < total && now - entry.lastProgressAt < this.opts.progressIntervalMs) return;
    entry.lastProgressAt = now;
    if (!entry.cancelled)
      this.opts.sendProgress({ type: 'progress', job_id: jobId, slices_done: done, slices_total: total });
  }

  private finished(jobId: string, outcome: JobOutcome): void {
    const { log, events } = this.opts;
    this.running.delete(jobId);
    if (outcome.kind === 'cancelled') {
      log.info({ job_id: jobId }, 'job cancelled');
      events.emit('job.cancelled', { jobId });
    } else {
      this.opts.deliver(outcome.message);
      const m = outcome.message;
      if (!('reason' in m)) {
        log.info({ job_id: jobId, result_hash: m.result_hash }, 'job finished');
        events.emit('job.finished', { jobId, resultHash: m.result_hash, proofs: m.proof });
      } else {
        log.warn({ job_id: jobId, reason: m.reason, message: m.message }, 'job failed');
        events.emit('job.failed', { jobId, reason: m.reason, message: m.message });
      }
    }
  }
}
