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
import { jobBudget, planMatches, type NoMatchReason, type Provider } from '../domain/matcher.js';
import { effectivePrice } from '../domain/pricing.js';
import {
  adjust,
  currentScore,
  multiplierPpm,
  type Outcome as ReputationOutcome,
  type ReputationEntry,
} from '../domain/reputation.js';
import { defaultParams, type SchedulerParams } from '../domain/scheduler-params.js';
import { loadReputation, logCancellations, saveReputation } from '../store/scheduler.js';
import { MarketError } from '../domain/errors.js';
import { proofRoot } from '../domain/merkle.js';
import { describeAmountProblem, parseAmount } from '../domain/money.js';
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
  queuedJobs,
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
import type { Config } from './config.js';
import type { MarketEventBus } from './events.js';
import { freeSlots, freeUnits, type Session } from './sessions.js';
import { announceClosed, closeTasks } from './tasks.js';

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
  private readonly results: Batcher<ResultItem, void>;
  private ticking = false;
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
    private readonly settlement?: SettlementService,
  ) {
    this.results = new Batcher((items) => this.commitResults(items), config.group_commit_max_batch);
    events.on('job.queued', () => this.kick());
    events.on('job.stopped', (e) => this.stopJob(e.jobId, e.worker, e.reason));
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
    if (jobIds.length > 0) await this.release(jobIds, `worker disconnected (${reason})`, true);
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
    session.offer = { offerId, pricePerUnit: price.value, units: msg.units, feePctCt: msg.fee_pct_ct };
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
    if (this.ticking) {
      this.again = true;
      return 0;
    }
    this.ticking = true;
    let leased = 0;
    try {
      do {
        this.again = false;
        leased += await this.dispatchOnce();
      } while (this.again && !this.stopped);
    } finally {
      this.ticking = false;
    }
    return leased;
  }

  private async dispatchOnce(): Promise<number> {
    const params = this.params();
    const now = this.clock.nowMs();
    const providers: Provider[] = [];
    let capacity = 0;
    let runningTotal = 0;
    let runningLow = 0;
    for (const s of this.sessions.values()) {
      const slots = freeSlots(s);
      providers.push({
        address: s.address,
        capability: s.capability,
        freeSlots: slots,
        pricePerUnit: s.offer?.pricePerUnit ?? null,
        freeUnits: freeUnits(s),
        reputation: currentScore(this.reputation.get(s.address), now, params),
      });
      if (s.offer) capacity += slots;
      for (const j of s.running.values()) {
        runningTotal++;
        if (j.priority === 'low') runningLow++;
      }
    }
    if (capacity === 0) return 0;
    // Read a little past capacity so jobs nobody can run do not block the ones behind them.
    const queue = await queuedJobs(this.db, Math.min(5000, capacity * 4 + 16));
    const byId = new Map(queue.map((j) => [j.job_id, j]));
    const plan = planMatches(
      queue.map((job) => ({
        jobId: job.job_id,
        challengeType: job.challenge_type,
        model: job.challenge_type === 'inference' ? String(job.payload.model_id) : undefined,
        requirements: job.requirements as Requirements | null,
        units: job.units,
        budget: jobBudget(BigInt(job.reward), job.units, job.task_units),
        priority: job.priority,
      })),
      providers,
      { params, running: { total: runningTotal, low: runningLow } },
    );
    // Reasons describe the queue as this tick read it; jobs that left it drop out of the map.
    this.waiting.clear();
    for (const [jobId, reason] of plan.reasons) {
      this.waiting.set(jobId, reason);
      this.events.emit('job.unmatched', { jobId, reason });
    }
    if (plan.assignments.length === 0) return 0;
    const leaseUntil = now + this.config.lease_ms;
    const leasedIds = new Set(
      await this.db.transaction((tx) =>
        leaseJobs(
          tx,
          plan.assignments.map((a) => ({
            job_id: a.jobId,
            worker_address: a.address,
            lease_expires_at: leaseUntil,
            // The customer pays the provider's offer as it stood when the job was leased.
            quote_price: (this.sessions.get(a.address)?.offer?.pricePerUnit ?? 0n).toString(),
          })),
          now,
        ),
      ),
    );
    let sent = 0;
    for (const a of plan.assignments) {
      const job = byId.get(a.jobId) as QueuedJob;
      this.waiting.delete(a.jobId);
      if (!leasedIds.has(a.jobId)) continue;
      const session = this.sessions.get(a.address);
      if (!session) continue; // gone meanwhile: its lease expires and the job runs elsewhere
      session.running.set(job.job_id, {
        units: job.units,
        slices: job.slices.length,
        taskId: job.task_id,
        startedAtMs: now,
        priority: job.priority,
      });
      this.stats.success++;
      if (job.priority !== 'low' && now - job.queued_at > params.priority_miss_seconds * 1000) {
        this.stats.priority_misses++;
        this.events.emit('job.priority_miss', { jobId: job.job_id });
      }
      this.events.emit('job.matched', {
        jobId: job.job_id,
        provider: a.address,
        effectivePrice: a.effectivePrice,
      });
      session.send(await this.jobMessage(job, leaseUntil));
      sent++;
    }
    this.events.emit('job.dispatched', { count: sent });
    return sent;
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
    const outputs = await Promise.all(items.map((i) => this.storeOutputs(i.msg)));
    const { completed, doneTasks } = await this.db.transaction(async (tx) => {
      const completed = await completeJobs(
        tx,
        items.map((i, n) => ({
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
      await this.settlement?.settle(
        tx,
        doneTasks.map((t) => t.taskId),
      );
      return { completed, doneTasks };
    });
    const ok = new Set(completed.map((c) => c.job_id));
    const outcomes: Outcome<void>[] = [];
    for (const { session, msg } of items) {
      const running = session.running.get(msg.job_id);
      session.running.delete(msg.job_id);
      if (ok.has(msg.job_id)) {
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
    for (const address of new Set(items.filter((i) => ok.has(i.msg.job_id)).map((i) => i.session.address))) {
      await countProviderOutcomes(this.db, address, {
        completed: items.filter((i) => i.session.address === address && ok.has(i.msg.job_id)).length,
      });
      await this.reputationOutcome(address, 'success');
    }
    for (const t of doneTasks) this.events.emit('task.completed', t);
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
  ): Promise<{ taskId: string; resultHash: string; worker: string }[]> {
    const byTask = groupBy(await jobsOfTasks(tx, taskIds), (j) => j.task_id);
    const done = [...byTask].map(([taskId, jobs]) => ({
      task_id: taskId,
      result_hash: proofRoot(jobs.map((j) => j.result_hash as string)),
      worker_address: mainWorker(jobs),
    }));
    const completed = new Set(await completeTasks(tx, done, Math.floor(now / 1000)));
    return done
      .filter((d) => completed.has(d.task_id))
      .map((d) => ({ taskId: d.task_id, resultHash: d.result_hash, worker: d.worker_address }));
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
    await this.reputationOutcome(session.address, 'failure');
    if (msg.reason === 'invalid_payload') {
      const failedJobs = await this.db.transaction((tx) =>
        failJobs(
          tx,
          [
            {
              job_id: msg.job_id,
              worker_address: session.address,
              reason: `invalid_payload: ${msg.message}`,
            },
          ],
          this.clock.nowMs(),
        ),
      );
      await this.failTasks(failedJobs.map((j) => j.task_id));
    } else await this.release([msg.job_id], `job_failed ${msg.reason}`, false);
    this.kick();
  }

  // ─── leases ───────────────────────────────────────────────────────────────────────────────

  /** Requeues jobs whose leases ran out; each counts against its provider. */
  async sweepLeases(): Promise<number> {
    const ids = await expiredLeases(this.db, this.clock.nowMs(), 1000);
    if (ids.length === 0) return 0;
    return this.release(ids, 'lease expired', true);
  }

  private async release(jobIds: string[], reason: string, countsAsExpiry: boolean): Promise<number> {
    const released = await this.db.transaction((tx) =>
      releaseJobs(tx, jobIds, this.config.max_job_attempts, reason, this.clock.nowMs()),
    );
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
   * queue for someone else, and the provider's reputation pays for it.
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
    await this.release([jobId], 'cancelled by provider', false);
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
