// The dispatcher: matches queued jobs to connected workers, leases them, and takes results.
//
//   queued ──lease──▶ leased ──result──▶ completed
//     ▲                 │  └──job_failed (invalid payload) / attempts used up──▶ failed
//     └── lease expired, worker gone, job_failed ──┘
//
// Each tick reads the queue, asks the pure matcher for a plan against an in-memory snapshot of
// the sessions, and commits the plan in one transaction with conditional updates: a job another
// node leased meanwhile is simply not leased here. Results are group-committed the same way.

import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { unixSeconds, type Clock } from '../domain/clock.js';
import { blake3HexLarge, utf8 } from '../domain/hash.js';
import { verifySignature } from '../domain/identity.js';
import {
  capabilityProblem,
  jobBudget,
  planMatches,
  type Assignment,
  type JobNeed,
  type NoMatchReason,
  type Plan,
  type Provider,
} from '../domain/matcher.js';
import { effectivePrice } from '../domain/pricing.js';
import {
  adjust,
  currentScore,
  multiplierPpm,
  type Outcome as ReputationOutcome,
  type ReputationEntry,
} from '../domain/reputation.js';
import { defaultParams, LANES, type Lane, type SchedulerParams } from '../domain/scheduler-params.js';
import { laneOf, typesOfLane } from '../domain/admission.js';
import { jobsToSend, queueEntries, queueHeads } from '../store/queue.js';
import { JobQueue, type QueuedNeed } from './job-queue.js';
import { handoffLease, jobsLeasedTo, leasedJobsOf, stillLeased } from '../store/handoff.js';
import { affordableBonds, bondFor, postBonds, returnBonds, slashBonds, type BondRequest } from './bonds.js';
import { loadReputation, logCancellations, saveReputation } from '../store/scheduler.js';
import { MarketError } from '../domain/errors.js';
import { SYSTEM_ACCOUNTS } from '../domain/ledger.js';
import { lockBalances } from '../store/ledger.js';
import { proofRoot } from '../domain/merkle.js';
import { CPC, describeAmountProblem, parseAmount } from '../domain/money.js';
import type { Requirements } from '../domain/schemas/capability.js';
import {
  resultMessage,
  type JobFailed,
  type JobMsg,
  type JobResult,
  type Offer,
} from '../domain/schemas/worker.js';
import type { Db, Queryable } from '../store/db.js';
import {
  completeJobs,
  countDoneJobs,
  expiredLeases,
  extendLeases,
  failJobs,
  getJob,
  jobsOfTasks,
  type JobRow,
  leaseJobs,
  releaseJobs,
  type QueuedJob,
} from '../store/jobs.js';
import {
  closeOffers,
  countProviderOutcomes,
  getBlob,
  openOffer,
  putBlob,
  upsertProvider,
} from '../store/providers.js';
import { completeTasks } from '../store/tasks.js';
import { groupBy } from '../domain/group-by.js';
import { Batcher, type Outcome } from './batcher.js';
import type { SettlementService } from './settlement.js';
import type { AdmissionService } from './admission.js';
import type { Config } from './config.js';
import type { MarketEventBus } from './events.js';
import { freeSlots, freeUnits, type Session } from './sessions.js';
import { announceClosed, closeTasks } from './tasks.js';

/** How long a provider that could not post an SLA bond is passed over for industrial work. */
const UNBONDABLE_PAUSE_MS = 5000;

/** Thrown inside a handoff's transaction to roll it back when the lease moved meanwhile. */
class HandoffFailed extends Error {}

export class ResultRejected extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface ResultItem {
  session: Session;
  msg: JobResult;
}

export class Dispatcher {
  private readonly sessions = new Map<string, Session>();
  /** Reputation of every provider seen since start, read from the store when it connects. */
  private readonly reputation = new Map<string, ReputationEntry>();
  /** Counters for compute_market.scheduler_stats. */
  readonly stats = {
    success: 0,
    capability_mismatch: 0,
    reputation_failure: 0,
    preemptions: 0,
    priority_misses: 0,
  };
  /** Why each job that is still queued did not match on the last tick. */
  readonly waiting = new Map<string, NoMatchReason>();
  /** The same by task: the reason of the first of its jobs the last tick looked at. */
  private readonly waitingTasks = new Map<string, NoMatchReason>();
  /** Queued jobs as matching needs them, per lane; rebuilt from the store at start. */
  private readonly queue: JobQueue;
  private queueParams: SchedulerParams;
  /** Providers that could not post an SLA bond, and until when they get no industrial work. */
  private readonly unbondable = new Map<string, number>();
  /** True while the comfort guard holds the whole industrial lane back. */
  private deferredLane = false;
  private readonly results: Batcher<ResultItem, void>;
  /** The dispatch rounds in flight, if any: a tick asked for meanwhile joins them. */
  private ticking: Promise<number> | undefined;
  private again = false;
  private scheduled = false;
  private stopped = false;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly events: MarketEventBus,
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly params: () => SchedulerParams = defaultParams,
    private readonly settlement: SettlementService,
    private readonly admission?: AdmissionService,
  ) {
    this.results = new Batcher((items) => this.commitResults(items), config.group_commit_max_batch);
    this.queueParams = params();
    this.queue = new JobQueue(this.queueParams);
    events.on('job.queued', (e) => {
      if (e.entries) this.queue.add(e.entries);
      this.kick();
    });
    events.on('task.closed', (e) => this.queue.removeTask(e.taskId));
    // A provider cancel pays its own reputation price (providerCancel); a missed deadline this one.
    events.on('sla.slashed', (e) => {
      if (e.cause !== 'deadline') return;
      void this.reputationOutcome(e.provider, 'failure').catch((err: unknown) =>
        this.logger.error({ err }, 'reputation update after an SLA slash failed'),
      );
    });
    events.on('job.stopped', (e) => this.stopJob(e.jobId, e.worker, e.reason));
    // A peer's score that replaced the stored one replaces the cached one too.
    events.on('reputation.gossiped', (e) => {
      if (this.reputation.has(e.address)) this.reputation.set(e.address, e.entry);
    });
  }

  get connected(): number {
    return this.sessions.size;
  }

  sessionList(): Session[] {
    return [...this.sessions.values()];
  }

  // ─── sessions ─────────────────────────────────────────────────────────────────────────────

  async register(session: Session): Promise<void> {
    const previous = this.sessions.get(session.address);
    if (previous) {
      previous.close(4004, 'replaced by a newer connection');
      await this.unregister(previous, 'replaced');
    }
    await upsertProvider(this.db, session, unixSeconds(this.clock));
    // Leases held by an earlier connection of this worker (before a market restart, or on a node
    // it left) cannot be finished through this one: requeue them now, without a penalty, rather
    // than let them expire against the provider for a break that was not its fault.
    const orphaned = await jobsLeasedTo(this.db, session.address);
    if (orphaned.length > 0)
      await this.release(orphaned, 'worker reconnected', false, { worker: session.address });
    const entry = await loadReputation(this.db, session.address);
    if (entry) this.reputation.set(session.address, entry);
    this.sessions.set(session.address, session);
    this.events.emit('worker.connected', { address: session.address });
    this.kick();
  }

  /** The worker is gone: its jobs go back to the queue now rather than when their leases expire. */
  async unregister(session: Session, reason: string): Promise<void> {
    if (this.sessions.get(session.address) !== session) return;
    this.sessions.delete(session.address);
    const jobIds = [...session.running.keys()];
    session.running.clear();
    await closeOffers(this.db, session.address, unixSeconds(this.clock));
    if (jobIds.length > 0)
      await this.release(jobIds, `worker disconnected (${reason})`, true, { worker: session.address });
  }

  async offer(session: Session, msg: Offer): Promise<string> {
    const price = parseAmount(msg.price_per_unit);
    if (!price.ok)
      throw new ResultRejected('validation_error', `price_per_unit ${describeAmountProblem(price.problem)}`);
    const offerId = randomUUID();
    await openOffer(this.db, {
      offer_id: offerId,
      provider_address: session.address,
      units: msg.units,
      price_per_unit: price.value.toString(),
      fee_pct_ct: msg.fee_pct_ct,
      capability: session.capability,
      created_at: unixSeconds(this.clock),
    });
    session.offer = {
      offerId,
      pricePerUnit: price.value,
      units: msg.units,
      capability: { ...session.capability, fee_pct_ct: msg.fee_pct_ct },
    };
    // An incoming offer may take over running jobs (spec "Preemption"); queued work comes first.
    await this.tick();
    await this.preemptFor(session);
    this.kick();
    return offerId;
  }

  /** A heartbeat: the worker's slot count, and leases pushed forward for the jobs it still runs. */
  async heartbeat(session: Session, freeSlotsNow: number, jobIds: string[]): Promise<void> {
    session.slots = freeSlotsNow + jobIds.length;
    const mine = jobIds.filter((id) => session.running.has(id));
    if (mine.length > 0)
      await extendLeases(this.db, session.address, mine, this.clock.nowMs() + this.config.lease_ms);
    this.kick();
  }

  // ─── the queue ────────────────────────────────────────────────────────────────────────────

  /** Reads every queued job (up to `limit` per lane) into memory: at start, and after a restart. */
  async loadQueue(limit = 1_000_000): Promise<number> {
    const params = this.params();
    let added = 0;
    for (const lane of LANES)
      added += this.queue.add(await queueHeads(this.db, typesOfLane(lane, params), limit));
    return added;
  }

  /**
   * Tops the in-memory queue up from the store: jobs queued by another node on the same database,
   * or put back by its lease sweep, reach this node's matcher within one backstop interval.
   */
  async resync(): Promise<number> {
    let slots = 0;
    for (const s of this.sessions.values()) if (s.offer) slots += freeSlots(s);
    if (slots === 0) return 0;
    const added = await this.loadQueue(Math.min(5000, slots * 4 + 16));
    if (added > 0) this.kick();
    return added;
  }

  /** Queued jobs this node holds in memory, per lane. */
  queuedInMemory(): Record<Lane, number> {
    return { consumer: this.queue.sizeOf('consumer'), industrial: this.queue.sizeOf('industrial') };
  }

  // ─── matching ─────────────────────────────────────────────────────────────────────────────

  /** Asks for a tick soon; ticks never overlap, and a kick during one runs another after it. */
  kick(): void {
    if (this.stopped || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.tick().catch((err: unknown) => this.logger.error({ err }, 'dispatch tick failed'));
    });
  }

  async tick(): Promise<number> {
    // A tick asked for while one runs makes it go round once more, and resolves when that round
    // is done: whoever awaits a tick sees a dispatch that started after it asked. A failure is
    // reported to whoever started the rounds.
    if (this.ticking) {
      this.again = true;
      return this.ticking.then(
        () => 0,
        () => 0,
      );
    }
    this.ticking = this.rounds().finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  private async rounds(): Promise<number> {
    let leased = 0;
    do {
      this.again = false;
      const started = performance.now();
      leased += await this.dispatchOnce();
      this.events.emit('dispatch.tick', { seconds: (performance.now() - started) / 1000 });
    } while (this.again && !this.stopped);
    return leased;
  }

  private async dispatchOnce(): Promise<number> {
    const params = this.params();
    if (params !== this.queueParams) {
      this.queue.setParams(params);
      this.queueParams = params;
    }
    const now = this.clock.nowMs();
    const view = this.providerView(now, params);
    // Each lane's head, a little past capacity so jobs nobody can run do not block the ones
    // behind them. The consumer head is looked at even when every slot is busy: a saturated
    // market is when the comfort guard matters. While tight the industrial lane is left alone.
    const limit = Math.min(5000, view.slots * 4 + 16);
    const consumerJobs = this.queue.head('consumer', limit);
    const consumerAge = consumerJobs.reduce((age, j) => Math.max(age, (now - j.queuedAt) / 1000), 0);
    const mode = this.admission?.observeQueue(consumerJobs.length, consumerAge) ?? 'loose';
    this.deferredLane = mode === 'tight';
    if (view.slots === 0) {
      // Nothing was planned: no reason from an earlier tick may still describe the queue.
      this.waiting.clear();
      this.waitingTasks.clear();
      return 0;
    }
    const lanes: Record<Lane, QueuedNeed[]> = {
      consumer: consumerJobs,
      industrial: mode === 'tight' ? [] : this.queue.head('industrial', limit),
    };
    const byId = new Map([...lanes.consumer, ...lanes.industrial].map((j) => [j.jobId, j]));
    // Consumer work is planned first: it is latency-sensitive, and batch work takes what is left.
    const running = { ...view.running };
    const consumer = planMatches(lanes.consumer, view.providers, { params, running });
    const plan: Plan = { assignments: [...consumer.assignments], reasons: new Map(consumer.reasons) };
    const left = reserve(view.providers, consumer.assignments, byId, running);
    // While tight the industrial lane was not planned: waitingReason() says `deferred` for all of it.
    if (mode === 'loose') {
      // A provider far over its fair share takes no more industrial work until its usage decays.
      const open = left.map((p) =>
        this.admission?.providerSaturated(p.address) || (this.unbondable.get(p.address) ?? 0) > now
          ? { ...p, freeSlots: 0 }
          : p,
      );
      const industrial = planMatches(lanes.industrial, open, { params, running });
      for (const [jobId, reason] of industrial.reasons) plan.reasons.set(jobId, reason);
      for (const a of industrial.assignments) {
        const units = byId.get(a.jobId)?.units ?? 0;
        if (this.admission && !this.admission.chargeProvider(a.address, units))
          plan.reasons.set(a.jobId, 'deferred');
        else plan.assignments.push(a);
      }
    }
    // A job at the head that the plan never reached (every usable slot was taken first) waits
    // for capacity: every job looked at has a reason.
    const assigned = new Set(plan.assignments.map((a) => a.jobId));
    for (const job of [...lanes.consumer, ...lanes.industrial])
      if (!assigned.has(job.jobId) && !plan.reasons.has(job.jobId))
        plan.reasons.set(job.jobId, 'no_capacity');
    // Reasons describe the queue as this tick saw it; jobs that left it drop out of the map.
    this.waiting.clear();
    this.waitingTasks.clear();
    for (const [jobId, reason] of plan.reasons) {
      this.waiting.set(jobId, reason);
      const taskId = byId.get(jobId)?.taskId;
      if (taskId !== undefined && !this.waitingTasks.has(taskId)) this.waitingTasks.set(taskId, reason);
      this.events.emit('job.unmatched', { jobId, reason });
    }
    if (plan.assignments.length === 0) return 0;
    const leaseUntil = now + this.config.lease_ms;
    const priceOf = (address: string) => this.sessions.get(address)?.offer?.pricePerUnit ?? 0n;
    // SLA bonds: an industrial job goes only to a provider that can post its bond now.
    // A job whose deadline is less than a lease away is not bonded: no provider could be fairly
    // held to a deadline it had no time to meet.
    const bondable = (need: QueuedNeed | undefined) =>
      need !== undefined &&
      laneOf(need.challengeType, params) === 'industrial' &&
      (need.deadline === null || need.deadline * 1000 - now >= this.config.lease_ms);
    const bonds: BondRequest[] =
      params.sla_bond_pct > 0
        ? plan.assignments
            .filter((a) => bondable(byId.get(a.jobId)))
            .map((a) => ({
              jobId: a.jobId,
              provider: a.address,
              bond: bondFor(priceOf(a.address), byId.get(a.jobId)?.units ?? 0, params.sla_bond_pct),
            }))
        : [];
    const unbonded = new Set<string>();
    const leasedIds = await this.db.transaction(async (tx) => {
      unbonded.clear();
      const nowSecs = Math.floor(now / 1000);
      if (bonds.length > 0) {
        const ok = await affordableBonds(tx, bonds, nowSecs);
        for (const b of bonds) if (!ok.has(b.jobId)) unbonded.add(b.jobId);
      }
      const ids = await leaseJobs(
        tx,
        plan.assignments
          .filter((a) => !unbonded.has(a.jobId))
          .map((a) => ({
            job_id: a.jobId,
            worker_address: a.address,
            lease_expires_at: leaseUntil,
            // The customer pays the provider's offer as it stood when the job was leased.
            quote_price: priceOf(a.address).toString(),
          })),
        now,
      );
      const leased = new Set(ids);
      await postBonds(
        tx,
        bonds.filter((b) => leased.has(b.jobId)),
        nowSecs,
      );
      return ids;
    });
    // Industrial jobs charged to a provider at planning but not leased give the charge back.
    const leasedSet = new Set(leasedIds);
    for (const a of plan.assignments) {
      const need = byId.get(a.jobId);
      if (!leasedSet.has(a.jobId) && need && laneOf(need.challengeType, params) === 'industrial')
        this.admission?.unchargeProvider(a.address, need.units);
    }
    // A provider that could not post a bond gets no industrial work for a few seconds, so the
    // next tick gives its jobs to providers that can.
    for (const b of bonds)
      if (unbonded.has(b.jobId)) this.unbondable.set(b.provider, now + UNBONDABLE_PAUSE_MS);
    for (const jobId of unbonded) {
      this.waiting.set(jobId, 'deferred');
      const taskId = byId.get(jobId)?.taskId;
      if (taskId !== undefined) this.waitingTasks.set(taskId, 'deferred');
    }
    // Leased here, or refused because the store says it is no longer queued: gone either way.
    this.queue.remove(plan.assignments.filter((a) => !unbonded.has(a.jobId)).map((a) => a.jobId));
    const rows = new Map((await jobsToSend(this.db, leasedIds)).map((j) => [j.job_id, j]));
    let sent = 0;
    for (const a of plan.assignments) {
      const job = rows.get(a.jobId);
      if (!unbonded.has(a.jobId)) this.waiting.delete(a.jobId);
      if (!job) continue;
      const session = this.sessions.get(a.address);
      if (!session) continue; // gone meanwhile: its lease expires and the job runs elsewhere
      this.track(session, job, now);
      this.stats.success++;
      if (job.priority !== 'low' && now - job.queued_at > params.priority_miss_seconds * 1000) {
        this.stats.priority_misses++;
        this.events.emit('job.priority_miss', { jobId: job.job_id });
      }
      this.events.emit('job.matched', {
        jobId: job.job_id,
        provider: a.address,
        effectivePrice: a.effectivePrice,
        pricePerUnit: session.offer?.pricePerUnit ?? 0n,
        lane: laneOf(job.challenge_type, params),
      });
      session.send(await this.jobMessage(job, leaseUntil));
      sent++;
    }
    this.events.emit('job.dispatched', { count: sent });
    return sent;
  }

  /** Why a queued job is waiting: its last reason, or `deferred` for any industrial job while tight. */
  waitingReason(jobId: string, challengeType: string): NoMatchReason | undefined {
    if (this.deferredLane && laneOf(challengeType, this.params()) === 'industrial') return 'deferred';
    return this.waiting.get(jobId);
  }

  /** Why a task's queued work is waiting, as waitingReason says for its jobs. */
  taskWaitingReason(taskId: string, challengeType: string): NoMatchReason | undefined {
    if (this.deferredLane && laneOf(challengeType, this.params()) === 'industrial') return 'deferred';
    return this.waitingTasks.get(taskId);
  }

  /** The connected providers as the matcher sees them, with slot and unit totals. */
  private providerView(now: number, params: SchedulerParams) {
    const providers: Provider[] = [];
    let slots = 0;
    const running = { total: 0, low: 0 };
    for (const s of this.sessions.values()) {
      const free = freeSlots(s);
      providers.push({
        address: s.address,
        capability: s.offer?.capability ?? s.capability,
        freeSlots: free,
        pricePerUnit: s.offer?.pricePerUnit ?? null,
        freeUnits: freeUnits(s),
        reputation: currentScore(this.reputation.get(s.address), now, params),
      });
      if (s.offer) slots += free;
      for (const j of s.running.values()) {
        running.total++;
        if (j.priority === 'low') running.low++;
      }
    }
    return { providers, slots, running };
  }

  /** Units offered by the connected providers: the admission capacity sample. */
  offeredUnits(): number {
    let units = 0;
    for (const s of this.sessions.values()) if (s.offer) units += s.offer.units;
    return units;
  }

  private track(session: Session, job: QueuedJob, now: number): void {
    session.running.set(job.job_id, {
      units: job.units,
      slices: job.slices.length,
      taskId: job.task_id,
      startedAtMs: now,
      priority: job.priority,
    });
  }

  // ─── preemption ───────────────────────────────────────────────────────────────────────────

  /**
   * Spec "Preemption": a provider whose reputation exceeds a running job's provider's by at least
   * preempt_min_delta takes the job over, if it can run it and the reward pays its price. The
   * lease moves only if the old provider still holds it (a conditional update), so a job that
   * finished meanwhile stays finished and is charged once; the old provider is told `preempted`
   * and is not penalised. A handoff that cannot be made leaves the original assignment.
   */
  async preemptFor(session: Session): Promise<number> {
    const params = this.params();
    if (!params.enable_preempt || !session.offer || this.sessions.get(session.address) !== session) return 0;
    const now = this.clock.nowMs();
    const mine = this.reputationOf(session.address);
    let moved = 0;
    for (const victim of [...this.sessions.values()]) {
      if (victim === session || victim.running.size === 0) continue;
      if (mine - this.reputationOf(victim.address) < params.preempt_min_delta) continue;
      const jobs = await leasedJobsOf(this.db, victim.address, [...victim.running.keys()]);
      for (const job of jobs) {
        if (freeSlots(session) < 1) return moved;
        const need = jobNeed(job);
        const price = session.offer.pricePerUnit;
        if (
          freeUnits(session) < job.units ||
          capabilityProblem(session.offer.capability, need) !== null ||
          price * BigInt(job.units) > need.budget
        )
          continue;
        if (await this.handoff(job, victim, session, price, now)) moved++;
      }
    }
    return moved;
  }

  private async handoff(
    job: QueuedJob,
    from: Session,
    to: Session,
    price: bigint,
    now: number,
  ): Promise<boolean> {
    const leaseUntil = now + this.config.lease_ms;
    const moved = await this.db
      .transaction(async (tx) => {
        // The first provider's bond goes back to it; the job moves on without one.
        await returnBonds(tx, [job.job_id], unixSeconds(this.clock));
        const ok = await handoffLease(
          tx,
          {
            job_id: job.job_id,
            from: from.address,
            to: to.address,
            lease_expires_at: leaseUntil,
            quote_price: price.toString(),
          },
          now,
        );
        if (!ok) throw new HandoffFailed();
        await logCancellations(
          tx,
          [
            {
              job_id: job.job_id,
              task_id: job.task_id,
              reason: 'preempted',
              actor: 'scheduler',
              provider: from.address,
            },
          ],
          unixSeconds(this.clock),
        );
        return ok;
      })
      // The old provider no longer held the lease: everything above rolled back.
      .catch((err: unknown) => {
        if (err instanceof HandoffFailed) return false;
        throw err;
      });
    const result = moved ? 'success' : 'handoff_failed';
    this.events.emit('job.preempted', { jobId: job.job_id, from: from.address, to: to.address, result });
    if (!moved) return false;
    from.running.delete(job.job_id);
    from.send({ type: 'cancel', job_id: job.job_id, reason: 'preempted' });
    this.track(to, job, now);
    this.stats.preemptions++;
    this.events.emit('job.cancelled', { jobId: job.job_id, reason: 'preempted' });
    to.send(await this.jobMessage(job, leaseUntil));
    this.logger.info({ job: job.job_id, from: from.address, to: to.address }, 'job preempted');
    return true;
  }

  /** Moves a provider's reputation by an outcome and stores it. */
  private async reputationOutcome(address: string, outcome: ReputationOutcome): Promise<void> {
    const params = this.params();
    const before = this.reputation.get(address) ?? (await loadReputation(this.db, address));
    const after = adjust(before, outcome, this.clock.nowMs(), params);
    this.reputation.set(address, after);
    await saveReputation(this.db, address, after);
    this.events.emit('reputation.adjusted', { address, outcome, score: after.score });
  }

  /** The provider's price per unit weighted by its reputation, as matching ranks it. */
  effectivePriceOf(session: Session): bigint {
    if (!session.offer) return 0n;
    const params = this.params();
    return effectivePrice(
      session.offer.pricePerUnit,
      multiplierPpm(this.reputationOf(session.address), params),
      false,
    );
  }

  reputationOf(address: string): number {
    return currentScore(this.reputation.get(address), this.clock.nowMs(), this.params());
  }

  private async jobMessage(job: QueuedJob, leaseUntil: number): Promise<JobMsg> {
    const { input, input_blob, ...payload } = job.payload;
    const msg: JobMsg = {
      type: 'job',
      job_id: job.job_id,
      task_id: job.task_id,
      challenge_type: job.challenge_type as JobMsg['challenge_type'],
      payload,
      slices: job.slices as JobMsg['slices'],
      units: job.units,
      lease_expires_at: leaseUntil,
    };
    if (typeof input === 'string') msg.input = input;
    else if (typeof input_blob === 'string') {
      const bytes = await getBlob(this.db, input_blob);
      if (bytes) msg.input = Buffer.from(bytes).toString('base64');
    }
    return msg;
  }

  // ─── results ──────────────────────────────────────────────────────────────────────────────

  /** Checks a result against the lease and the worker's key, then commits it with others. */
  async result(session: Session, msg: JobResult): Promise<void> {
    if (msg.worker_address !== session.address)
      throw new ResultRejected(
        'wrong_worker',
        `worker_address ${msg.worker_address} is not this connection's address`,
      );
    const running = session.running.get(msg.job_id);
    if (!running) throw await this.whyNotCompleted(msg.job_id, session.address);
    if (!verifySignature(session.publicKey, utf8(resultMessage(msg.job_id, msg.result_hash)), msg.signature))
      throw new ResultRejected('bad_signature', 'the result signature does not verify with the worker key');
    if (msg.proof.length !== running.slices)
      throw new ResultRejected(
        'bad_proof',
        `expected ${running.slices} slice proofs, got ${msg.proof.length}`,
      );
    if (proofRoot(msg.proof) !== msg.result_hash)
      throw new ResultRejected('bad_proof', 'result_hash is not the Merkle root of the slice proofs');
    await this.results.submit({ session, msg });
  }

  private async commitResults(items: ResultItem[]): Promise<Outcome<void>[]> {
    const now = this.clock.nowMs();
    // A worker's result for a job sent twice into one batch is committed once: only its first
    // copy is a candidate; the others are answered as a result sent after it (duplicate_result).
    // Copies from other workers stay candidates: the conditional update keeps the lessee's.
    const keyOf = (i: ResultItem) => `${i.msg.job_id}/${i.session.address}`;
    const firstOf = new Map<string, ResultItem>();
    for (const i of items) if (!firstOf.has(keyOf(i))) firstOf.set(keyOf(i), i);
    const candidates = [...firstOf.values()];
    const outputs = await Promise.all(candidates.map((i) => this.storeOutputs(i.msg)));
    const { completed, doneTasks } = await this.db.transaction(async (tx) => {
      // With bonds in play, escrow and bonds are locked first, in the order every money-moving
      // transaction takes them, before settlement locks the parties.
      if (this.params().sla_bond_pct > 0)
        await lockBalances(tx, [SYSTEM_ACCOUNTS.escrow, SYSTEM_ACCOUNTS.bonds], CPC);
      const completed = await completeJobs(
        tx,
        candidates.map((i, n) => ({
          job_id: i.msg.job_id,
          worker_address: i.session.address,
          result_hash: i.msg.result_hash,
          proof: i.msg.proof,
          output: outputs[n] ?? null,
        })),
        now,
      );
      const allDone = await countDoneJobs(tx, [...new Set(completed.map((c) => c.task_id))], now);
      const doneTasks = await this.completeTasks(tx, allDone, now);
      // The completion released each task's escrow; settlement moves what it held.
      await this.settlement.settle(
        tx,
        doneTasks.map((t) => ({ taskId: t.taskId, escrowHeld: t.escrowHeld })),
      );
      await returnBonds(
        tx,
        completed.map((c) => c.job_id),
        Math.floor(now / 1000),
      );
      return { completed, doneTasks };
    });
    const committed = new Set(completed.map((c) => c.job_id));
    const completedBy = new Map(completed.map((c) => [c.job_id, c.worker_address]));
    const accepted = (i: ResultItem) =>
      committed.has(i.msg.job_id) &&
      firstOf.get(keyOf(i)) === i &&
      completedBy.get(i.msg.job_id) === i.session.address;
    const outcomes: Outcome<void>[] = [];
    for (const item of items) {
      const { session, msg } = item;
      const running = session.running.get(msg.job_id);
      session.running.delete(msg.job_id);
      if (accepted(item)) {
        outcomes.push({ ok: true, value: undefined });
        this.events.emit('job.completed', {
          jobId: msg.job_id,
          taskId: running?.taskId ?? '',
          worker: session.address,
          runtimeMs: now - (running?.startedAtMs ?? now),
          slices: running?.slices ?? 1,
        });
      } else outcomes.push({ ok: false, error: await this.whyNotCompleted(msg.job_id, session.address) });
    }
    for (const address of new Set(items.filter(accepted).map((i) => i.session.address))) {
      await countProviderOutcomes(this.db, address, {
        completed: items.filter((i) => i.session.address === address && accepted(i)).length,
      });
      await this.reputationOutcome(address, 'success');
    }
    for (const t of doneTasks)
      this.events.emit('task.completed', { taskId: t.taskId, resultHash: t.resultHash, worker: t.worker });
    this.kick();
    return outcomes;
  }

  /** Artifacts become blobs the customer downloads; the job keeps their names and hashes. */
  private async storeOutputs(msg: JobResult): Promise<Record<string, unknown> | null> {
    if (!msg.output) return null;
    const out: Record<string, unknown> = {};
    if (msg.output.text !== undefined) out.text = msg.output.text;
    if (msg.output.artifacts) {
      const stored = [];
      for (const a of msg.output.artifacts) {
        const bytes = Buffer.from(a.data, 'base64');
        const hash = await blake3HexLarge(bytes);
        await putBlob(this.db, hash, bytes, null, unixSeconds(this.clock));
        stored.push({ name: a.name, blob: hash, size: bytes.byteLength });
      }
      out.artifacts = stored;
    }
    return out;
  }

  /** A task is done when all its jobs are: its result is the Merkle root of theirs. */
  private async completeTasks(
    tx: Queryable,
    taskIds: string[],
    now: number,
  ): Promise<{ taskId: string; resultHash: string; worker: string; escrowHeld: bigint }[]> {
    const byTask = groupBy(await jobsOfTasks(tx, taskIds), (j) => j.task_id);
    const done = [...byTask].map(([taskId, jobs]) => ({
      task_id: taskId,
      result_hash: proofRoot(jobs.map((j) => j.result_hash as string)),
      worker_address: mainWorker(jobs),
    }));
    const completed = new Map(
      (await completeTasks(tx, done, Math.floor(now / 1000))).map((c) => [c.task_id, BigInt(c.escrow_held)]),
    );
    return done.flatMap((d) => {
      const escrowHeld = completed.get(d.task_id);
      return escrowHeld === undefined
        ? []
        : [{ taskId: d.task_id, resultHash: d.result_hash, worker: d.worker_address, escrowHeld }];
    });
  }

  private async whyNotCompleted(jobId: string, address: string): Promise<ResultRejected> {
    const job = await getJob(this.db, jobId);
    if (!job) return new ResultRejected('unknown_job', `no job ${jobId}`);
    if (job.status === 'completed')
      return new ResultRejected('duplicate_result', `job ${jobId} is already completed`);
    if (job.status === 'cancelled') return new ResultRejected('job_cancelled', `job ${jobId} was cancelled`);
    if (job.worker_address !== address)
      return new ResultRejected('not_leased', `job ${jobId} is not leased to ${address}`);
    return new ResultRejected('lease_expired', `the lease on job ${jobId} expired before the result arrived`);
  }

  /** The worker could not run the job: an invalid payload fails it for good, anything else retries. */
  async failed(session: Session, msg: JobFailed): Promise<void> {
    if (!session.running.has(msg.job_id))
      throw new ResultRejected('not_leased', `job ${msg.job_id} is not leased to ${session.address}`);
    session.running.delete(msg.job_id);
    this.events.emit('job.failed', { jobId: msg.job_id, worker: session.address, reason: msg.reason });
    await countProviderOutcomes(this.db, session.address, { failed: 1 });
    // An invalid payload is the customer's fault, not the provider's: it costs no reputation.
    if (msg.reason !== 'invalid_payload') await this.reputationOutcome(session.address, 'failure');
    if (msg.reason === 'invalid_payload') {
      const failedJobs = await this.db.transaction(async (tx) => {
        // The provider ran nothing wrong: the payload was invalid; its bond goes back.
        await returnBonds(tx, [msg.job_id], unixSeconds(this.clock));
        return failJobs(
          tx,
          [
            {
              job_id: msg.job_id,
              worker_address: session.address,
              reason: `invalid_payload: ${msg.message}`,
            },
          ],
          this.clock.nowMs(),
        );
      });
      await this.failTasks(failedJobs.map((j) => j.task_id));
    } else await this.release([msg.job_id], `job_failed ${msg.reason}`, false, { worker: session.address });
    this.kick();
  }

  // ─── leases ───────────────────────────────────────────────────────────────────────────────

  /** Requeues jobs whose leases ran out; each counts against its provider. */
  async sweepLeases(): Promise<number> {
    const ids = await expiredLeases(this.db, this.clock.nowMs(), 1000);
    if (ids.length === 0) return 0;
    // Only leases still expired when the release runs: a heartbeat may have extended one since.
    return this.release(ids, 'lease expired', true, { expiredBefore: this.clock.nowMs() });
  }

  private async release(
    jobIds: string[],
    reason: string,
    countsAsExpiry: boolean,
    only: { worker?: string; expiredBefore?: number } = {},
    bonds: 'return' | 'slash' = 'return',
  ): Promise<number> {
    const { released, slashed } = await this.db.transaction(async (tx) => {
      const ids = await stillLeased(tx, jobIds, only);
      // A job put back is no SLA miss: its bond goes back to the provider with it, unless the
      // provider itself walked away from it (a provider cancel).
      const now = unixSeconds(this.clock);
      const slashed = bonds === 'slash' ? await slashBonds(tx, ids, now) : [];
      if (bonds === 'return') await returnBonds(tx, ids, now);
      const released = await releaseJobs(tx, ids, this.config.max_job_attempts, reason, this.clock.nowMs());
      return { released, slashed };
    });
    for (const b of slashed)
      this.events.emit('sla.slashed', {
        jobId: b.job_id,
        provider: b.worker_address,
        bond: BigInt(b.bond),
        cause: 'provider_cancel',
      });
    // The queue and the tasks first: a failure in the bookkeeping below must not lose a job.
    const requeued = released.filter((r) => r.status === 'queued').map((r) => r.job_id);
    if (requeued.length > 0) this.queue.add(await queueEntries(this.db, requeued));
    for (const r of released) {
      const session = this.sessions.get(r.worker_address);
      if (session?.running.delete(r.job_id))
        session.send({ type: 'cancel', job_id: r.job_id, reason: 'lease_lost' });
      if (countsAsExpiry) {
        this.events.emit('lease.expired', { jobId: r.job_id, worker: r.worker_address });
        await countProviderOutcomes(this.db, r.worker_address, { expired: 1 });
        await this.reputationOutcome(r.worker_address, 'lease_expired');
      }
    }
    const failedTasks = released.filter((r) => r.status === 'failed').map((r) => r.task_id);
    if (failedTasks.length > 0) await this.failTasks(failedTasks);
    if (released.some((r) => r.status === 'queued')) this.kick();
    if (released.length > 0)
      this.logger.info({ jobs: released.length, reason }, 'jobs returned to the queue');
    return released.length;
  }

  private async failTasks(taskIds: string[]): Promise<void> {
    const ids = [...new Set(taskIds)];
    if (ids.length === 0) return;
    const { closed, stopped } = await this.db.transaction((tx) =>
      closeTasks(tx, ids, 'failed', 'job_failed', this.clock),
    );
    announceClosed(this.events, closed, stopped, 'failed', 'job_failed');
  }

  /**
   * A provider-side cancel (reported by the operator for a provider): the job goes back to the
   * queue for someone else, the provider's SLA bond on it is slashed (penalize_sla), and its
   * reputation pays for it. The customer is charged nothing for the abandoned run.
   */
  async providerCancel(jobId: string): Promise<void> {
    const job = await getJob(this.db, jobId);
    if (!job) throw new MarketError('not_found', `job ${jobId} not found`, { job_id: jobId });
    if (job.status !== 'leased' || !job.worker_address)
      throw new MarketError(
        job.status === 'queued' ? 'conflict' : 'already_done',
        `job already ${job.status}`,
        { status: job.status },
      );
    const provider = job.worker_address;
    await this.release([jobId], 'cancelled by provider', false, { worker: provider }, 'slash');
    await logCancellations(
      this.db,
      [{ job_id: jobId, task_id: job.task_id, reason: 'provider', actor: 'operator', provider }],
      unixSeconds(this.clock),
    );
    await this.reputationOutcome(provider, 'provider_cancel');
    this.events.emit('job.cancelled', { jobId, reason: 'provider' });
  }

  private stopJob(jobId: string, worker: string, reason: string): void {
    const session = this.sessions.get(worker);
    if (session?.running.delete(jobId)) session.send({ type: 'cancel', job_id: jobId, reason });
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.results.flushed();
  }
}

/** A task's worker is the one that did the most units of it (ties: the earliest job's). */
function mainWorker(jobs: readonly JobRow[]): string {
  const unitsBy = new Map<string, number>();
  for (const j of jobs)
    if (j.worker_address) unitsBy.set(j.worker_address, (unitsBy.get(j.worker_address) ?? 0) + j.units);
  let best = jobs[0]?.worker_address ?? '';
  for (const j of jobs)
    if (j.worker_address && (unitsBy.get(j.worker_address) ?? 0) > (unitsBy.get(best) ?? 0))
      best = j.worker_address;
  return best;
}

/** What the matcher needs of a job. */
function jobNeed(job: QueuedJob): JobNeed {
  return {
    jobId: job.job_id,
    challengeType: job.challenge_type,
    model: job.challenge_type === 'inference' ? String(job.payload.model_id) : undefined,
    requirements: job.requirements as Requirements | null,
    units: job.units,
    budget: jobBudget(BigInt(job.reward), job.units, job.task_units),
    priority: job.priority,
    feePctCt: job.fee_pct_ct,
  };
}

/** The providers with a plan's slots and units taken, and the running counts with its jobs added. */
function reserve(
  providers: readonly Provider[],
  assignments: readonly Assignment[],
  jobs: ReadonlyMap<string, { units: number; priority?: string | undefined }>,
  running: { total: number; low: number },
): Provider[] {
  const taken = new Map<string, { slots: number; units: number }>();
  for (const a of assignments) {
    const job = jobs.get(a.jobId);
    const t = taken.get(a.address) ?? { slots: 0, units: 0 };
    t.slots++;
    t.units += job?.units ?? 0;
    taken.set(a.address, t);
    running.total++;
    if (job?.priority === 'low') running.low++;
  }
  return providers.map((p) => {
    const t = taken.get(p.address);
    return t ? { ...p, freeSlots: p.freeSlots - t.slots, freeUnits: p.freeUnits - t.units } : p;
  });
}
