// Leases after they are made: renewal for the jobs workers say they still run, expiry, release
// back to the queue (worker gone, job failed, provider cancel), and preemption's handoff to a
// better provider. Every move is a conditional update on the lease as the caller saw it, with its
// bonds and reputation consequences in the same transaction.

import { MarketError } from '../domain/errors.js';
import { capabilityProblem } from '../domain/matcher.js';
import { shouldPreempt, type Outcome } from '../domain/reputation.js';
import { handoffLease, leasedJobsOf, stillLeased } from '../store/handoff.js';
import { expiredLeases, getJob, releaseJobs, renewLeases, type QueuedJob } from '../store/jobs.js';
import { queueEntries } from '../store/queue.js';
import { logCancellations } from '../store/scheduler.js';
import { returnBonds, slashBonds } from './bonds.js';
import type { DispatchContext } from './dispatch-context.js';
import { jobMessage, jobNeed, track } from './dispatch.js';
import { announceAdjusted, recordOutcomes, type OutcomeChange } from './reputation-book.js';
import { freeSlots, freeUnits, type Session } from './sessions.js';
import { announceClosed, closeTasks } from './tasks.js';

/** Thrown inside a handoff's transaction to roll it back when the lease moved meanwhile. */
class HandoffFailed extends Error {}

export interface ReleaseOptions {
  /** Only leases still held by this worker. */
  worker?: string | undefined;
  /** Only leases that expired before this time (ms): a renewal since leaves them alone. */
  expiredBefore?: number | undefined;
  /** What the provider's reputation pays for each released job, if anything. */
  outcome?: Outcome | undefined;
  /** Bonds go back (default), or are slashed: the provider walked away from the job. */
  bonds?: 'return' | 'slash';
}

export class Leases {
  constructor(private readonly ctx: DispatchContext) {}

  /**
   * Pushes forward, in one statement, the leases past half their life whose workers confirmed
   * them (a heartbeat listing the job) since they were last written. A worker that stopped
   * confirming lets its leases run out.
   */
  async renew(): Promise<number> {
    const { ctx } = this;
    const now = ctx.clock.nowMs();
    const half = ctx.config.lease_ms / 2;
    const due: { job_id: string; worker_address: string }[] = [];
    for (const s of ctx.sessions.values())
      for (const [jobId, j] of s.running)
        if (j.leaseExpiresAtMs - now <= half && j.confirmedAtMs > j.leaseExpiresAtMs - ctx.config.lease_ms)
          due.push({ job_id: jobId, worker_address: s.address });
    if (due.length === 0) return 0;
    const until = now + ctx.config.lease_ms;
    const renewed = new Set(await renewLeases(ctx.db, due, until));
    for (const d of due) {
      const j = ctx.sessions.get(d.worker_address)?.running.get(d.job_id);
      if (j && renewed.has(d.job_id)) j.leaseExpiresAtMs = until;
    }
    return renewed.size;
  }

  /** Renews what is confirmed, then requeues jobs whose leases ran out; each counts against its provider. */
  async sweep(): Promise<number> {
    await this.renew();
    const now = this.ctx.clock.nowMs();
    const ids = await expiredLeases(this.ctx.db, now, 1000);
    if (ids.length === 0) return 0;
    // Only leases still expired when the release runs: a renewal may have extended one since.
    return this.release(ids, 'lease expired', { expiredBefore: now, outcome: 'lease_expired' });
  }

  /** Puts leased jobs back in the queue (or fails those out of attempts); returns how many moved. */
  async release(jobIds: string[], reason: string, opts: ReleaseOptions = {}): Promise<number> {
    const { ctx } = this;
    const now = ctx.clock.nowMs();
    const { released, slashed, adjusted } = await ctx.db.transaction(async (tx) => {
      const ids = await stillLeased(tx, jobIds, opts);
      // A job put back is no SLA miss: its bond goes back to the provider with it, unless the
      // provider itself walked away from it (a provider cancel).
      const slashed = opts.bonds === 'slash' ? await slashBonds(tx, ids, now) : [];
      if (opts.bonds !== 'slash') await returnBonds(tx, ids, now);
      const released = await releaseJobs(tx, ids, ctx.config.max_job_attempts, reason, now);
      const outcome = opts.outcome;
      const changes: OutcomeChange[] = outcome
        ? released.map((r) => ({ address: r.worker_address, outcome }))
        : [];
      const adjusted = await recordOutcomes(tx, changes, now, ctx.params());
      return { released, slashed, adjusted };
    });
    announceAdjusted(ctx.events, adjusted);
    for (const b of slashed)
      ctx.events.emit('sla.slashed', {
        jobId: b.job_id,
        provider: b.worker_address,
        bond: BigInt(b.bond),
        cause: 'provider_cancel',
      });
    // The queue and the tasks first: a failure in what follows must not lose a job.
    const requeued = released.filter((r) => r.status === 'queued').map((r) => r.job_id);
    if (requeued.length > 0) ctx.queue.add(await queueEntries(ctx.db, requeued));
    for (const r of released) {
      const session = ctx.sessions.get(r.worker_address);
      if (session?.running.delete(r.job_id))
        session.send({ type: 'cancel', job_id: r.job_id, reason: 'lease_lost' });
      if (opts.outcome === 'lease_expired')
        ctx.events.emit('lease.expired', { jobId: r.job_id, worker: r.worker_address });
    }
    await this.failTasks(released.filter((r) => r.status === 'failed').map((r) => r.task_id));
    if (requeued.length > 0) ctx.kick();
    if (released.length > 0) ctx.logger.info({ jobs: released.length, reason }, 'jobs returned to the queue');
    return released.length;
  }

  /** Fails the tasks of jobs that failed for good, refunding what their escrow still holds. */
  async failTasks(taskIds: string[]): Promise<void> {
    const ids = [...new Set(taskIds)];
    if (ids.length === 0) return;
    const { closed, stopped } = await this.ctx.db.transaction((tx) =>
      closeTasks(tx, ids, 'failed', 'job_failed', this.ctx.clock),
    );
    announceClosed(this.ctx.events, closed, stopped, 'failed', 'job_failed');
  }

  /**
   * A provider-side cancel (reported by the operator for a provider): the job goes back to the
   * queue for someone else, the provider's SLA bond on it is slashed (penalize_sla), and its
   * reputation pays for it. The customer is charged nothing for the abandoned run.
   */
  async providerCancel(jobId: string): Promise<void> {
    const { ctx } = this;
    const job = await getJob(ctx.db, jobId);
    if (!job) throw new MarketError('not_found', `job ${jobId} not found`, { job_id: jobId });
    if (job.status !== 'leased' || !job.worker_address)
      throw new MarketError(
        job.status === 'queued' ? 'conflict' : 'already_done',
        `job already ${job.status}`,
        { status: job.status },
      );
    const provider = job.worker_address;
    await this.release([jobId], 'cancelled by provider', {
      worker: provider,
      outcome: 'provider_cancel',
      bonds: 'slash',
    });
    await logCancellations(
      ctx.db,
      [{ job_id: jobId, task_id: job.task_id, reason: 'provider', actor: 'operator', provider }],
      ctx.clock.nowMs(),
    );
    ctx.events.emit('job.cancelled', { jobId, reason: 'provider' });
  }

  /**
   * Spec "Preemption": a provider whose reputation exceeds a running job's provider's by at least
   * preempt_min_delta takes the job over, if it can run it and the reward pays its price. The
   * lease moves only if the old provider still holds it (a conditional update), so a job that
   * finished meanwhile stays finished and is charged once; the old provider is told `preempted`
   * and is not penalised. A handoff that cannot be made leaves the original assignment.
   */
  async preemptFor(session: Session): Promise<number> {
    const { ctx } = this;
    const params = ctx.params();
    if (!params.enable_preempt || !session.offer || ctx.sessions.get(session.address) !== session) return 0;
    const now = ctx.clock.nowMs();
    const mine = ctx.reputation.scoreOf(session.address, now);
    let moved = 0;
    for (const victim of [...ctx.sessions.values()]) {
      if (victim === session || victim.running.size === 0) continue;
      if (!shouldPreempt(ctx.reputation.scoreOf(victim.address, now), mine, params)) continue;
      const jobs = await leasedJobsOf(ctx.db, victim.address, [...victim.running.keys()]);
      for (const job of jobs) {
        if (freeSlots(session) < 1) return moved;
        const price = session.offer.pricePerUnit;
        const need = jobNeed(job);
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
    const { ctx } = this;
    const leaseUntil = now + ctx.config.lease_ms;
    const moved = await ctx.db
      .transaction(async (tx) => {
        // The first provider's bond goes back to it; the job moves on without one.
        await returnBonds(tx, [job.job_id], now);
        const ok = await handoffLease(
          tx,
          {
            job_id: job.job_id,
            from: from.address,
            to: to.address,
            lease_expires_at_ms: leaseUntil,
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
          now,
        );
        return ok;
      })
      // The old provider no longer held the lease: everything above rolled back.
      .catch((err: unknown) => {
        if (err instanceof HandoffFailed) return false;
        throw err;
      });
    const result = moved ? 'success' : 'handoff_failed';
    ctx.events.emit('job.preempted', { jobId: job.job_id, from: from.address, to: to.address, result });
    if (!moved) return false;
    from.running.delete(job.job_id);
    from.send({ type: 'cancel', job_id: job.job_id, reason: 'preempted' });
    track(to, job, now, leaseUntil);
    ctx.stats.preemptions++;
    ctx.events.emit('job.cancelled', { jobId: job.job_id, reason: 'preempted' });
    to.send(await jobMessage(ctx, job, leaseUntil));
    ctx.logger.info({ job: job.job_id, from: from.address, to: to.address }, 'job preempted');
    return true;
  }
}
