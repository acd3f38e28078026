// What the scheduler's parts share: the connected sessions, the in-memory queue, the reputation
// cache, why queued jobs wait, and the counters of compute_market.scheduler_stats. The parts are
// src/market/provider-sessions.ts (connections and offers), dispatch.ts (the tick),
// results.ts (results and failures) and leases.ts (renewal, expiry, release, preemption);
// dispatcher.ts puts them together.

import type { Logger } from 'pino';
import type { Clock } from '../domain/clock.js';
import type { NoMatchReason } from '../domain/matcher.js';
import type { SchedulerParams } from '../domain/scheduler-params.js';
import type { Db } from '../store/db.js';
import type { AdmissionService } from './admission.js';
import type { Config } from './config.js';
import type { MarketEventBus } from './events.js';
import type { JobQueue } from './job-queue.js';
import type { ReputationCache } from './reputation-book.js';
import type { Session } from './sessions.js';
import type { SettlementService } from './settlement.js';

export interface SchedulerStats {
  success: number;
  capability_mismatch: number;
  reputation_failure: number;
  preemptions: number;
  priority_misses: number;
}

export interface DispatchContext {
  /** This market node, among the nodes sharing the database (src/market/cluster.ts). */
  readonly nodeId: string;
  readonly db: Db;
  readonly clock: Clock;
  readonly events: MarketEventBus;
  readonly config: Config;
  readonly logger: Logger;
  readonly params: () => SchedulerParams;
  readonly settlement: SettlementService;
  readonly admission: AdmissionService | undefined;
  readonly sessions: Map<string, Session>;
  readonly reputation: ReputationCache;
  readonly queue: JobQueue;
  readonly stats: SchedulerStats;
  /** Asks for a dispatch tick soon. */
  kick(): void;
}

/** Thrown to a worker whose message the market refuses; its code goes back in an `error` reply. */
export class ResultRejected extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Why queued jobs wait, as the last tick saw them, by job and by task. */
export class WaitingReasons {
  readonly byJob = new Map<string, NoMatchReason>();
  readonly byTask = new Map<string, NoMatchReason>();

  /** Reasons describe the queue as one tick saw it: jobs that left it drop out. */
  replace(reasons: ReadonlyMap<string, NoMatchReason>, taskOf: (jobId: string) => string | undefined): void {
    this.clear();
    for (const [jobId, reason] of reasons) this.set(jobId, reason, taskOf(jobId), false);
  }

  set(jobId: string, reason: NoMatchReason, taskId: string | undefined, overrideTask = true): void {
    this.byJob.set(jobId, reason);
    if (taskId !== undefined && (overrideTask || !this.byTask.has(taskId))) this.byTask.set(taskId, reason);
  }

  clear(): void {
    this.byJob.clear();
    this.byTask.clear();
  }
}
