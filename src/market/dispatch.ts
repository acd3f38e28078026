// The dispatch tick: a snapshot of the queue heads and the connected providers goes to the pure
// planTick (src/domain/scheduling/plan-tick.ts), and its plan is applied in one transaction with
// conditional updates: a job another node leased meanwhile is simply not leased here, and a bond a
// provider cannot post leaves its job queued. Then the leased jobs are sent to their workers.

import { randomInt } from 'node:crypto';
import { jobBudget } from '../domain/matcher.js';
import { matchResult, type JobNeed, type NoMatchReason } from '../domain/scheduling/match-types.js';
import type { Requirements } from '../domain/schemas/capability.js';
import {
  consumerPressure,
  headLimit,
  planTick,
  type PlannedLease,
  type TickPlan,
  type TickProvider,
} from '../domain/scheduling/plan-tick.js';
import { LANES, type Lane, type SchedulerParams } from '../domain/scheduler-params.js';
import type { JobMsg } from '../domain/schemas/worker.js';
import { queueHeads } from '../store/queue.js';
import { leaseJobs, type QueuedJob } from '../store/jobs.js';
import { getBlob } from '../store/providers.js';
import { typesOfLane } from '../domain/admission.js';
import { hardwareStanding, onProbation, restingTypes } from '../domain/verification.js';
import { affordableBonds, postBonds } from './bonds.js';
import type { DispatchContext } from './dispatch-context.js';
import { WaitingReasons } from './dispatch-context.js';
import { freeSlots, freeUnits, type Session } from './sessions.js';

/** How long a provider that could not post an SLA bond is passed over for industrial work. */
const UNBONDABLE_PAUSE_MS = 5000;

export class Dispatch {
  /** Why each job that is still queued did not match on the last tick. */
  readonly waiting = new WaitingReasons();
  /** Providers that could not post an SLA bond, and until when they get no industrial work. */
  private readonly unbondable = new Map<string, number>();
  /** True while the comfort guard holds the whole industrial lane back. */
  deferredLane = false;
  /** The dispatch rounds in flight, if any: a tick asked for meanwhile joins them. */
  private ticking: Promise<number> | undefined;
  private again = false;
  private scheduled = false;
  stopped = false;
  /** Rotates the matcher's tie order from tick to tick, from a random start. */
  private seed = randomInt(0x7fffffff);

  private queueParams: SchedulerParams;

  constructor(private readonly ctx: DispatchContext) {
    this.queueParams = ctx.params();
  }

  /** Asks for a tick soon; ticks never overlap, and a kick during one runs another after it. */
  kick(): void {
    if (this.stopped || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.tick().catch((err: unknown) => this.ctx.logger.error({ err }, 'dispatch tick failed'));
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
      this.ctx.events.emit('dispatch.tick', { seconds: (performance.now() - started) / 1000 });
    } while (this.again && !this.stopped);
    return leased;
  }

  /** Reads every queued job (up to `limit` per lane) into memory: at start, and after a restart. */
  async loadQueue(limit = 1_000_000): Promise<number> {
    const params = this.ctx.params();
    let added = 0;
    for (const lane of LANES)
      added += this.ctx.queue.add(await queueHeads(this.ctx.db, typesOfLane(lane, params), limit));
    return added;
  }

  private async dispatchOnce(): Promise<number> {
    const { ctx } = this;
    const params = ctx.params();
    if (params !== this.queueParams) {
      ctx.queue.setParams(params);
      this.queueParams = params;
    }
    const now = ctx.clock.nowMs();
    const view = this.providerView(now);
    // The consumer head is looked at even when every slot is busy: a saturated market is when
    // the comfort guard matters.
    const limit = headLimit(view.slots);
    const consumer = ctx.queue.head('consumer', limit);
    const pressure = consumerPressure(consumer, view.providers, now);
    const mode = ctx.admission?.observeQueue(pressure.queued, pressure.ageSecs) ?? 'loose';
    this.deferredLane = mode === 'tight';
    if (view.slots === 0) {
      // Nothing is planned: no reason from an earlier tick may still describe the queue.
      this.waiting.clear();
      return 0;
    }
    const heads: Record<Lane, typeof consumer> = {
      consumer,
      industrial: mode === 'tight' ? [] : ctx.queue.head('industrial', limit),
    };
    const taskOf = new Map([...heads.consumer, ...heads.industrial].map((j) => [j.jobId, j.taskId]));
    this.seed = (this.seed + 1) & 0x7fffffff;
    const plan = planTick(
      {
        nowMs: now,
        providers: view.providers,
        running: view.running,
        heads,
        mode,
        capacity: ctx.admission?.capacity() ?? 0,
        leaseMs: ctx.config.lease_ms,
      },
      params,
      this.seed,
    );
    this.recordReasons(plan.reasons, (jobId) => taskOf.get(jobId));
    if (plan.leases.length === 0) return 0;
    for (const [address, usage] of plan.usage) ctx.admission?.setProviderUsage(address, usage);
    const { leased, unbonded } = await this.apply(plan, now);
    // Industrial jobs charged to a provider at planning but not leased give the charge back.
    for (const l of plan.leases)
      if (!leased.has(l.jobId) && l.lane === 'industrial')
        ctx.admission?.unchargeProvider(l.address, l.units);
    // A provider that could not post a bond gets no industrial work for a few seconds, so the
    // next tick gives its jobs to providers that can.
    for (const l of plan.leases)
      if (unbonded.has(l.jobId)) {
        this.unbondable.set(l.address, now + UNBONDABLE_PAUSE_MS);
        this.waiting.set(l.jobId, 'deferred', l.taskId);
      }
    // Leased here, or refused because the store says it is no longer queued: gone either way.
    ctx.queue.remove(plan.leases.filter((l) => !unbonded.has(l.jobId)).map((l) => l.jobId));
    return this.send(plan.leases, leased, now);
  }

  /**
   * Commits the plan: bonds checked and posted, jobs leased if still queued, all in one
   * transaction. Returns the jobs leased and those whose provider could not post the bond.
   */
  private async apply(
    plan: TickPlan,
    now: number,
  ): Promise<{ leased: Map<string, QueuedJob>; unbonded: Set<string> }> {
    const unbonded = new Set<string>();
    const bonds = plan.leases
      .filter((l) => l.bond > 0n)
      .map((l) => ({ jobId: l.jobId, provider: l.address, bond: l.bond }));
    const rows = await this.ctx.db.transaction(async (tx) => {
      unbonded.clear();
      if (bonds.length > 0) {
        const ok = await affordableBonds(tx, bonds, now);
        for (const b of bonds) if (!ok.has(b.jobId)) unbonded.add(b.jobId);
      }
      const rows = await leaseJobs(
        tx,
        plan.leases
          .filter((l) => !unbonded.has(l.jobId))
          .map((l) => ({
            job_id: l.jobId,
            worker_address: l.address,
            lease_expires_at_ms: l.leaseExpiresAtMs,
            // The customer pays the provider's offer as it stood when the job was leased.
            quote_price: l.quotePerUnit.toString(),
          })),
        now,
      );
      const leased = new Set(rows.map((r) => r.job_id));
      await postBonds(
        tx,
        bonds.filter((b) => leased.has(b.jobId)),
        now,
      );
      return rows;
    });
    // The lease statement returns what the job messages need: no second read before sending.
    return { leased: new Map(rows.map((r) => [r.job_id, r])), unbonded };
  }

  /** Sends each leased job to its worker; returns how many went out. */
  private async send(
    leases: readonly PlannedLease[],
    leased: ReadonlyMap<string, QueuedJob>,
    now: number,
  ): Promise<number> {
    const { ctx } = this;
    let sent = 0;
    for (const l of leases) {
      const job = leased.get(l.jobId);
      if (!job) continue;
      this.waiting.byJob.delete(l.jobId);
      const session = ctx.sessions.get(l.address);
      if (!session) continue; // gone meanwhile: its lease expires and the job runs elsewhere
      track(session, job, now, l.leaseExpiresAtMs);
      ctx.stats.success++;
      if (l.priorityMiss) {
        ctx.stats.priority_misses++;
        ctx.events.emit('job.priority_miss', { jobId: l.jobId });
      }
      ctx.events.emit('job.matched', {
        jobId: l.jobId,
        provider: l.address,
        effectivePrice: l.effectivePrice,
        pricePerUnit: l.quotePerUnit,
        lane: l.lane,
      });
      session.send(await jobMessage(ctx, job, l.leaseExpiresAtMs));
      sent++;
    }
    ctx.events.emit('job.dispatched', { count: sent });
    return sent;
  }

  /**
   * The tick's reasons replace the last tick's. A job's non-match is counted (scheduler stats,
   * scheduler_match_total) once per reason it waits for, not on every tick it is looked at.
   */
  private recordReasons(
    reasons: ReadonlyMap<string, NoMatchReason>,
    taskOf: (id: string) => string | undefined,
  ) {
    const before = new Map(this.waiting.byJob);
    this.waiting.replace(reasons, taskOf);
    for (const [jobId, reason] of reasons) {
      if (before.get(jobId) === reason) continue;
      const result = matchResult(reason);
      if (result === 'capability_mismatch') this.ctx.stats.capability_mismatch++;
      if (result === 'reputation_failure') this.ctx.stats.reputation_failure++;
      this.ctx.events.emit('job.unmatched', { jobId, reason: result });
    }
  }

  /** The connected providers as the tick sees them, with slot and running totals. */
  private providerView(now: number): {
    providers: TickProvider[];
    slots: number;
    running: { total: number; low: number };
  } {
    const { ctx } = this;
    const providers: TickProvider[] = [];
    let slots = 0;
    const running = { total: 0, low: 0 };
    const params = ctx.params();
    for (const s of ctx.sessions.values()) {
      const free = trustedSlots(s, freeSlots(s), params);
      providers.push({
        address: s.address,
        capability: trustedCapability(s, now, params),
        freeSlots: free,
        pricePerUnit: s.offer?.pricePerUnit ?? null,
        freeUnits: freeUnits(s),
        reputation: ctx.reputation.scoreOf(s.address, now),
        usage: ctx.admission?.providerUsage(s.address),
        unbondableUntil: this.unbondable.get(s.address),
      });
      if (s.offer) slots += free;
      for (const j of s.running.values()) {
        running.total++;
        if (j.priority === 'low') running.low++;
      }
    }
    for (const [address, until] of this.unbondable) if (until <= now) this.unbondable.delete(address);
    return { providers, slots, running };
  }
}

/**
 * The free slots a provider may fill: none once caught cheating, and at most probation_slots
 * running at once while on probation.
 */
function trustedSlots(s: Session, free: number, params: SchedulerParams): number {
  if (s.trust?.fraud) return 0;
  if (!onProbation(s.trust?.verifiedJobs ?? 0, s.trust?.staked ?? false, params)) return free;
  return Math.max(0, Math.min(free, params.probation_slots - s.running.size));
}

/**
 * What matching compares jobs with: the offer's capability less the types the provider rests, and
 * without GPUs when its verified work runs at CPU speed (hardwareStanding 'implausible').
 */
export function trustedCapability(
  s: Session,
  now: number,
  params: SchedulerParams,
): TickProvider['capability'] {
  let cap = s.offer?.capability ?? s.capability;
  const resting = restingTypes(s.trust?.cooldowns ?? {}, now);
  if (resting.size > 0) cap = { ...cap, challenge_types: cap.challenge_types.filter((t) => !resting.has(t)) };
  if (cap.gpu_count > 0 && s.trust && hardwareStanding(cap.gpu_count, s.trust, params) === 'implausible')
    cap = { ...cap, gpu_model: null, gpu_count: 0, gpu_memory_mb: 0 };
  return cap;
}

/** The session runs the job from now, under a lease that ends at `leaseExpiresAtMs`. */
export function track(session: Session, job: QueuedJob, now: number, leaseExpiresAtMs: number): void {
  session.running.set(job.job_id, {
    challengeType: job.challenge_type,
    units: job.units,
    slices: job.slices.length,
    taskId: job.task_id,
    startedAtMs: now,
    priority: job.priority,
    leaseExpiresAtMs,
    confirmedAtMs: now,
    // Without the inline input (up to 700 kB a job): a market check that needs it reads it then.
    checked: { ...job, payload: withoutInput(job.payload), started_at_ms: now },
  });
}

function withoutInput(payload: Record<string, unknown>): Record<string, unknown> {
  if (!('input' in payload)) return payload;
  const { input: _input, ...rest } = payload;
  return rest;
}

/** What the matcher needs of a leased job, to check another provider can run it. */
export function jobNeed(job: QueuedJob): JobNeed {
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

/** The job as its worker receives it; an input kept as a blob is sent inline. */
export async function jobMessage(ctx: DispatchContext, job: QueuedJob, leaseUntil: number): Promise<JobMsg> {
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
    const bytes = await getBlob(ctx.db, input_blob);
    if (bytes) msg.input = Buffer.from(bytes).toString('base64');
  }
  return msg;
}
