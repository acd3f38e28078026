// The dispatcher: matches queued jobs to connected workers, leases them, and takes results.
//
//   queued ──lease──▶ leased ──result──▶ completed
//     ▲                 │  └──job_failed (invalid payload) / attempts used up──▶ failed
//     └── lease expired, worker gone, job_failed ──┘
//
// It puts the scheduler's parts together over one shared context (src/market/dispatch-context.ts):
// provider-sessions.ts (connections, offers, heartbeats), dispatch.ts (the tick: a pure plan from
// src/domain/scheduling/plan-tick.ts applied in one transaction), results.ts (results and
// failures, group-committed) and leases.ts (renewal, expiry, release, provider cancels,
// preemption).

import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock } from '../domain/clock.js';
import { effectivePrice } from '../domain/pricing.js';
import { multiplierPpm } from '../domain/reputation.js';
import type { NoMatchReason } from '../domain/matcher.js';
import { laneOf } from '../domain/admission.js';
import { headLimit } from '../domain/scheduling/plan-tick.js';
import { defaultParams, type Lane, type SchedulerParams } from '../domain/scheduler-params.js';
import type { JobFailed, JobResult, JobResults, Offer } from '../domain/schemas/worker.js';
import type { Db } from '../store/db.js';
import type { AdmissionService } from './admission.js';
import type { Config } from './config.js';
import type { DispatchContext, SchedulerStats } from './dispatch-context.js';
import { Dispatch } from './dispatch.js';
import type { MarketEventBus } from './events.js';
import { JobQueue } from './job-queue.js';
import { Leases } from './leases.js';
import { ProviderSessions } from './provider-sessions.js';
import { ReputationCache } from './reputation-book.js';
import { creditedUnits, NEW_PROVIDER } from '../domain/verification.js';
import { Results, type BatchOutcome } from './results.js';
import { freeSlots, type Session } from './sessions.js';
import type { SettlementService } from './settlement.js';
import { Disputes } from './disputes.js';

export { ResultRejected } from './dispatch-context.js';

export class Dispatcher {
  private readonly ctx: DispatchContext;
  private readonly dispatch: Dispatch;
  private readonly leases: Leases;
  private readonly resultsOf: Results;
  private readonly providers: ProviderSessions;
  /** Customers' disputes of results the market accepted unchecked. */
  readonly disputes: Disputes;
  /** Counters for compute_market.scheduler_stats. */
  readonly stats: SchedulerStats = {
    success: 0,
    capability_mismatch: 0,
    reputation_failure: 0,
    preemptions: 0,
    priority_misses: 0,
  };

  constructor(
    db: Db,
    clock: Clock,
    events: MarketEventBus,
    config: Config,
    logger: Logger,
    params: () => SchedulerParams = defaultParams,
    settlement: SettlementService,
    admission?: AdmissionService,
    nodeId: string = randomUUID(),
  ) {
    const queue = new JobQueue(params());
    this.ctx = {
      nodeId,
      db,
      clock,
      events,
      config,
      logger,
      params,
      settlement,
      admission,
      sessions: new Map(),
      reputation: new ReputationCache(events, params),
      queue,
      stats: this.stats,
      kick: () => this.dispatch.kick(),
    };
    this.dispatch = new Dispatch(this.ctx);
    this.leases = new Leases(this.ctx);
    this.resultsOf = new Results(this.ctx, this.leases);
    this.providers = new ProviderSessions(this.ctx, this.dispatch, this.leases);
    this.disputes = new Disputes(this.ctx);
    events.on('job.queued', (e) => {
      if (e.entries) queue.add(e.entries);
      this.kick();
    });
    events.on('task.closed', (e) => queue.removeTask(e.taskId));
    events.on('job.stopped', (e) => this.stopJob(e.jobId, e.worker, e.reason));
  }

  /** Why each job that is still queued did not match on the last tick. */
  get waiting(): ReadonlyMap<string, NoMatchReason> {
    return this.dispatch.waiting.byJob;
  }

  get connected(): number {
    return this.ctx.sessions.size;
  }

  sessionList(): Session[] {
    return [...this.ctx.sessions.values()];
  }

  register(session: Session): Promise<void> {
    return this.providers.register(session);
  }

  unregister(session: Session, reason: string): Promise<void> {
    return this.providers.unregister(session, reason);
  }

  offer(session: Session, msg: Offer): Promise<string> {
    return this.providers.offer(session, msg);
  }

  heartbeat(session: Session, freeSlotsNow: number, jobIds: readonly string[]): void {
    this.providers.heartbeat(session, freeSlotsNow, jobIds);
  }

  result(session: Session, msg: JobResult): Promise<void> {
    return this.resultsOf.result(session, msg);
  }

  results(session: Session, msg: JobResults): Promise<BatchOutcome> {
    return this.resultsOf.results(session, msg);
  }

  failed(session: Session, msg: JobFailed): Promise<void> {
    return this.resultsOf.failed(session, msg);
  }

  loadQueue(limit?: number): Promise<number> {
    return this.dispatch.loadQueue(limit);
  }

  /**
   * Tops the in-memory queue up from the store: jobs queued by another node on the same database,
   * or put back by its lease sweep, reach this node's matcher within one backstop interval.
   */
  async resync(): Promise<number> {
    let slots = 0;
    for (const s of this.ctx.sessions.values()) if (s.offer) slots += freeSlots(s);
    if (slots === 0) return 0;
    const added = await this.dispatch.loadQueue(headLimit(slots));
    if (added > 0) this.kick();
    return added;
  }

  /** Queued jobs this node holds in memory, per lane. */
  queuedInMemory(): Record<Lane, number> {
    return { consumer: this.ctx.queue.sizeOf('consumer'), industrial: this.ctx.queue.sizeOf('industrial') };
  }

  kick(): void {
    this.dispatch.kick();
  }

  tick(): Promise<number> {
    return this.dispatch.tick();
  }

  /** Renews confirmed leases, then requeues expired ones. */
  sweepLeases(): Promise<number> {
    return this.leases.sweep();
  }

  /** Reputation retention: entries untouched past provider_reputation_retention are forgotten. */
  forgetReputation(): Promise<number> {
    return this.ctx.reputation.forget(this.ctx.db, this.ctx.clock.nowMs());
  }

  providerCancel(jobId: string): Promise<void> {
    return this.leases.providerCancel(jobId);
  }

  preemptFor(session: Session): Promise<number> {
    return this.leases.preemptFor(session);
  }

  /** Why a queued job is waiting: its last reason, or `deferred` for any industrial job while tight. */
  waitingReason(jobId: string, challengeType: string): NoMatchReason | undefined {
    if (this.dispatch.deferredLane && laneOf(challengeType, this.ctx.params()) === 'industrial')
      return 'deferred';
    return this.dispatch.waiting.byJob.get(jobId);
  }

  /** Why a task's queued work is waiting, as waitingReason says for its jobs. */
  taskWaitingReason(taskId: string, challengeType: string): NoMatchReason | undefined {
    if (this.dispatch.deferredLane && laneOf(challengeType, this.ctx.params()) === 'industrial')
      return 'deferred';
    return this.dispatch.waiting.byTask.get(taskId);
  }

  /** Units offered by the connected providers: the admission capacity sample. */
  /** The units connected providers offer, as they say. */
  claimedUnits(): number {
    let units = 0;
    for (const s of this.ctx.sessions.values()) if (s.offer) units += s.offer.units;
    return units;
  }

  /** What a connected provider's offer counts toward capacity (creditedUnits); 0 without one. */
  creditedUnitsOf(session: Session): number {
    return session.offer
      ? creditedUnits(session.offer.units, session.trust ?? NEW_PROVIDER, this.ctx.params())
      : 0;
  }

  /** The units connected providers offer, as far as their verified work bears them out (creditedUnits). */
  offeredUnits(): number {
    let units = 0;
    for (const s of this.ctx.sessions.values()) units += this.creditedUnitsOf(s);
    return units;
  }

  /** The provider's price per unit weighted by its reputation, as matching ranks it. */
  effectivePriceOf(session: Session): bigint {
    if (!session.offer) return 0n;
    const score = this.reputationOf(session.address);
    return effectivePrice(session.offer.pricePerUnit, multiplierPpm(score, this.ctx.params()), false);
  }

  reputationOf(address: string): number {
    return this.ctx.reputation.scoreOf(address, this.ctx.clock.nowMs());
  }

  private stopJob(jobId: string, worker: string, reason: string): void {
    const session = this.ctx.sessions.get(worker);
    if (session?.running.delete(jobId)) session.send({ type: 'cancel', job_id: jobId, reason });
    this.kick();
  }

  async stop(): Promise<void> {
    this.dispatch.stopped = true;
    await this.resultsOf.flushed();
  }
}
