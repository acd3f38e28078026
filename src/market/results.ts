// Results and failures from workers. A result is checked against the lease and the worker's key,
// then group-committed with others in one transaction: the jobs complete, finished tasks complete
// and settle, bonds go back, and the providers' reputation and counters move, or none of it.

import { blake3HexLarge, utf8 } from '../domain/hash.js';
import { verifySignature } from '../domain/identity.js';
import { SYSTEM_ACCOUNTS } from '../domain/ledger.js';
import { proofRoot } from '../domain/merkle.js';
import { CPC } from '../domain/money.js';
import { batchRoot } from '../domain/result-batch.js';
import {
  resultMessage,
  resultsMessage,
  type BatchedResult,
  type JobFailed,
  type JobResult,
  type JobResults,
} from '../domain/schemas/worker.js';
import type { Queryable } from '../store/db.js';
import {
  completeJobs,
  countDoneJobs,
  failJobs,
  getJob,
  jobsOfTasks,
  leasedJobIdsOf,
  refuseResults,
  type CompletedJob,
  type JobRow,
} from '../store/jobs.js';
import { queueEntries } from '../store/queue.js';
import { addFailureClaim, setCooldowns } from '../store/verification.js';
import type { SchedulerParams } from '../domain/scheduler-params.js';
import {
  claimsAgree,
  MARKET_VERIFIER,
  onProbation,
  withCooldown,
  type VerificationStatus,
} from '../domain/verification.js';
import { lockBalances } from '../store/ledger.js';
import { putBlob } from '../store/providers.js';
import { completeTasks } from '../store/tasks.js';
import { amendTaskResults } from '../store/disputes.js';
import { renotify } from '../store/webhooks.js';
import { groupBy } from '../domain/group-by.js';
import { Batcher, type Outcome } from './batcher.js';
import { returnBonds, slashBonds } from './bonds.js';
import { ResultRejected, type DispatchContext } from './dispatch-context.js';
import type { Leases } from './leases.js';
import { announceAdjusted, recordOutcomes } from './reputation-book.js';
import type { CheckedJob, Session } from './sessions.js';
import { commitAlone } from './fast-commit.js';
import { Verifier, type Decision, type VerifyOutcome } from './verification.js';

interface ResultItem {
  session: Session;
  msg: BatchedResult;
  /** The job as leased: what checking the result needs, read from nothing. */
  job: CheckedJob;
}

export interface BatchOutcome {
  accepted: string[];
  rejected: { jobId: string; error: unknown }[];
}

export class Results {
  private readonly batch: Batcher<ResultItem, void>;
  private readonly verifier: Verifier;

  constructor(
    private readonly ctx: DispatchContext,
    private readonly leases: Leases,
  ) {
    this.verifier = new Verifier(ctx);
    this.batch = new Batcher((items) => this.commit(items), ctx.config.group_commit_max_batch);
  }

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
    await this.submit(session, msg);
  }

  /**
   * A batch of results signed once: the signature is checked over the root the market computes
   * from the results themselves, then each result is checked and committed as a lone one would
   * be. A bad signature refuses the whole batch; a bad result refuses only itself.
   */
  async results(session: Session, msg: JobResults): Promise<BatchOutcome> {
    if (msg.worker_address !== session.address)
      throw new ResultRejected(
        'wrong_worker',
        `worker_address ${msg.worker_address} is not this connection's address`,
      );
    const root = batchRoot(msg.results);
    if (root !== msg.batch_root)
      throw new ResultRejected('bad_proof', 'batch_root is not the Merkle root of the results in the batch');
    if (!verifySignature(session.publicKey, utf8(resultsMessage(root)), msg.signature))
      throw new ResultRejected('bad_signature', 'the batch signature does not verify with the worker key');
    const settled = await Promise.allSettled(
      msg.results.map(async (r) => {
        if (!session.running.has(r.job_id)) throw await this.whyNotCompleted(r.job_id, session.address);
        await this.submit(session, r);
      }),
    );
    const outcome: BatchOutcome = { accepted: [], rejected: [] };
    settled.forEach((s, i) => {
      const jobId = (msg.results[i] as BatchedResult).job_id;
      if (s.status === 'fulfilled') outcome.accepted.push(jobId);
      else outcome.rejected.push({ jobId, error: s.reason });
    });
    return outcome;
  }

  /** The checks every result passes, signed alone or in a batch; then the group commit. */
  private async submit(session: Session, r: BatchedResult): Promise<void> {
    const running = session.running.get(r.job_id);
    if (!running) throw await this.whyNotCompleted(r.job_id, session.address);
    if (r.proof.length !== running.slices)
      throw new ResultRejected('bad_proof', `expected ${running.slices} slice proofs, got ${r.proof.length}`);
    if (proofRoot(r.proof) !== r.result_hash)
      throw new ResultRejected('bad_proof', 'result_hash is not the Merkle root of the slice proofs');
    await this.batch.submit({ session, msg: r, job: running.checked });
  }

  /** Waits for the results submitted so far to commit. */
  flushed(): Promise<void> {
    return this.batch.flushed();
  }

  private async commit(items: ResultItem[]): Promise<Outcome<void>[]> {
    const { ctx } = this;
    const now = ctx.clock.nowMs();
    const params = ctx.params();
    // A worker's result for a job sent twice into one batch is committed once: only its first
    // copy is a candidate; the others are answered as a result sent after it (duplicate_result).
    // Copies from other workers stay candidates: the conditional update keeps the lessee's.
    const keyOf = (i: ResultItem) => `${i.msg.job_id}/${i.session.address}`;
    const firstOf = new Map<string, ResultItem>();
    for (const i of items) if (!firstOf.has(keyOf(i))) firstOf.set(keyOf(i), i);
    const candidates = [...firstOf.values()];
    const jobs = new Map(candidates.map((i) => [i.msg.job_id, i.job]));
    // The market's own checks compute, so they run before the transaction.
    const decisions = await this.verifier.decide(candidates, jobs, params);
    const refusal = (i: ResultItem) => {
      const d = decisions.get(i.msg.job_id);
      return d?.kind === 'refused' ? d : undefined;
    };
    const toRefuse = candidates.filter((i) => refusal(i));
    const toComplete = candidates.filter((i) => !refusal(i));
    const outputs = await Promise.all(toComplete.map((i) => this.storeOutputs(i.msg)));
    const rows = toComplete.map((i, n) => ({
      job_id: i.msg.job_id,
      worker_address: i.session.address,
      result_hash: i.msg.result_hash,
      proof: i.msg.proof,
      output: outputs[n] ?? null,
      ...decidedVerification(decisions.get(i.msg.job_id)),
    }));
    // The common case commits in one round trip (fast-commit.ts); the rest, or a batch the
    // database finds is not what that plan assumed, the long way below.
    const alone =
      toRefuse.length === 0
        ? await commitAlone(
            ctx,
            toComplete.map((i, n) => ({
              row: rows[n] as (typeof rows)[number],
              job: i.job,
              decision: decisions.get(i.msg.job_id),
            })),
            now,
            params,
          )
        : undefined;
    alone?.announce();
    const { completed, refused, doneTasks, adjusted, verification } = alone
      ? { ...alone, refused: [] as string[] }
      : await this.commitLong(toRefuse, rows, decisions, jobs, refusal, now, params);
    // The accounts a committed plan created are known already (fast-commit.ts).
    if (!alone) ctx.settlement.committed();
    ctx.events.emit('results.committed', {
      path: alone ? 'one_statement' : 'long',
      results: candidates.length,
    });
    announceAdjusted(ctx.events, adjusted);
    await this.afterVerification(verification, refused);
    const completedBy = new Map(completed.map((c) => [c.job_id, c.worker_address]));
    const accepted = (i: ResultItem) =>
      firstOf.get(keyOf(i)) === i && completedBy.get(i.msg.job_id) === i.session.address;
    const outcomes: Outcome<void>[] = [];
    for (const item of items) {
      const { session, msg } = item;
      const running = session.running.get(msg.job_id);
      session.running.delete(msg.job_id);
      const refusedWith = firstOf.get(keyOf(item)) === item ? refusal(item) : undefined;
      if (accepted(item)) {
        outcomes.push({ ok: true, value: undefined });
        ctx.events.emit('job.completed', {
          jobId: msg.job_id,
          taskId: running?.taskId ?? '',
          worker: session.address,
          runtimeMs: now - (running?.startedAtMs ?? now),
          slices: running?.slices ?? 1,
        });
      } else if (refusedWith && refused.includes(msg.job_id))
        outcomes.push({ ok: false, error: new ResultRejected('result_refused', refusedWith.reason) });
      else outcomes.push({ ok: false, error: await this.whyNotCompleted(msg.job_id, session.address) });
    }
    for (const t of doneTasks)
      ctx.events.emit('task.completed', { taskId: t.taskId, resultHash: t.resultHash, worker: t.worker });
    ctx.kick();
    return outcomes;
  }

  /** The batch committed statement by statement: every case (refusals, replicas, audits, bonds). */
  private async commitLong(
    toRefuse: readonly ResultItem[],
    rows: CompletedJob[],
    decisions: ReadonlyMap<string, Decision>,
    jobs: ReadonlyMap<string, CheckedJob>,
    refusal: (i: ResultItem) => Extract<Decision, { kind: 'refused' }> | undefined,
    now: number,
    params: SchedulerParams,
  ) {
    const { ctx } = this;
    const committed = ctx.db.transaction(async (tx) => {
      // With bonds in play, escrow and bonds are locked first, in the order every money-moving
      // transaction takes them, before settlement locks the parties.
      if (params.sla_bond_pct > 0)
        await lockBalances(tx, [SYSTEM_ACCOUNTS.escrow, SYSTEM_ACCOUNTS.bonds], CPC);
      const completed = await completeJobs(tx, rows, now);
      // Results the market proved wrong: the bond is slashed while the lease still names its
      // provider, then the job goes back to the queue without it.
      const leasedToRefuse = toRefuse.filter((i) => i.session.running.has(i.msg.job_id));
      await slashBonds(
        tx,
        leasedToRefuse.map((i) => i.msg.job_id),
        now,
      );
      const refused = await refuseResults(
        tx,
        leasedToRefuse.map((i) => ({ job_id: i.msg.job_id, worker_address: i.session.address })),
        now,
      );
      const verification = await this.verifier.apply(
        tx,
        completed.map((c) => ({ jobId: c.job_id, taskId: c.task_id, worker: c.worker_address })),
        decisions,
        jobs,
        toRefuse
          .filter((i) => refused.includes(i.msg.job_id))
          .map((i) => ({
            address: i.session.address,
            jobId: i.msg.job_id,
            reason: refusal(i)?.reason ?? '',
          })),
        ctx.sessions,
        now,
        params,
      );
      const allDone = await countDoneJobs(tx, [...new Set(verification.final.map((f) => f.taskId))], now);
      const doneTasks = await this.completeTasks(tx, allDone, now);
      await amendTaskResults(tx, await this.taskResults(tx, verification.amended), now);
      await ctx.settlement.payAuditors(tx, verification.audited);
      await renotify(tx, verification.corrected);
      // The completion released each task's escrow; settlement moves what it held.
      await ctx.settlement.settle(
        tx,
        doneTasks.map((t) => ({ taskId: t.taskId, escrowHeld: t.escrowHeld })),
      );
      await returnBonds(tx, verification.returned, now);
      await slashBonds(tx, verification.slashed, now);
      const adjusted = await recordOutcomes(tx, verification.outcomes, now, params, {
        verified: verification.verified,
        contradicted: verification.contradicted,
      });
      return { completed, refused, doneTasks, adjusted, verification };
    });
    // Accounts a rolled-back settlement found or made are not remembered.
    return committed.catch((err: unknown) => {
      ctx.settlement.rolledBack();
      throw err;
    });
  }

  /**
   * After a verification commit: the queue takes the new replicas and refused jobs, cancelled
   * replicas' workers stop, caught providers lose their leases and hear why, and jobs whose
   * results never agreed fail their tasks.
   */
  private async afterVerification(v: VerifyOutcome, refused: readonly string[]): Promise<void> {
    const { ctx } = this;
    for (const { address, units, ms } of v.verified) {
      const trust = ctx.sessions.get(address)?.trust;
      if (!trust) continue;
      trust.verifiedJobs++;
      trust.verifiedUnits += units;
      trust.verifiedMs += ms;
    }
    for (const c of v.counts) ctx.events.emit('verification.counted', c);
    for (const r of v.resolved) ctx.events.emit('verification.dispute_resolved', r);
    for (const taskId of new Set(v.corrected)) ctx.events.emit('task.corrected', { taskId });
    const queued = [...v.queued, ...refused];
    if (queued.length > 0) ctx.queue.add(await queueEntries(ctx.db, queued));
    for (const c of v.cancelled) {
      const session = c.worker_address ? ctx.sessions.get(c.worker_address) : undefined;
      if (session?.running.delete(c.job_id))
        session.send({ type: 'cancel', job_id: c.job_id, reason: 'verified elsewhere' });
    }
    for (const f of new Map(v.fraud.map((x) => [x.address, x])).values()) {
      ctx.logger.warn({ provider: f.address, job_id: f.jobId, reason: f.reason }, 'provider caught cheating');
      ctx.events.emit('verification.fraud', { address: f.address, jobId: f.jobId, reason: f.reason });
      const session = ctx.sessions.get(f.address);
      if (session?.trust) session.trust.fraud = true;
      session?.send({
        type: 'notice',
        code: 'fraud',
        message: `job ${f.jobId}: ${f.reason}; this provider gets no more work`,
      });
      const leased = await leasedJobIdsOf(ctx.db, f.address);
      if (leased.length > 0)
        await this.leases.release(leased, 'provider caught cheating', { worker: f.address });
    }
    await this.leases.failTasks(v.failed.map((j) => j.task_id));
  }

  /** Artifacts become blobs the customer downloads; the job keeps their names and hashes. */
  private async storeOutputs(msg: BatchedResult): Promise<Record<string, unknown> | null> {
    if (!msg.output) return null;
    const out: Record<string, unknown> = {};
    if (msg.output.text !== undefined) out.text = msg.output.text;
    if (msg.output.artifacts) {
      const stored = [];
      for (const a of msg.output.artifacts) {
        const bytes = Buffer.from(a.data, 'base64');
        const hash = await blake3HexLarge(bytes);
        await putBlob(this.ctx.db, hash, bytes, null, this.ctx.clock.nowMs());
        stored.push({ name: a.name, blob: hash, size: bytes.byteLength });
      }
      out.artifacts = stored;
    }
    return out;
  }

  /** A task's result is the Merkle root of its jobs'; its worker, the one that did most of it. */
  private async taskResults(tx: Queryable, taskIds: readonly string[]) {
    const byTask = groupBy(await jobsOfTasks(tx, [...new Set(taskIds)]), (j) => j.task_id);
    const done = [...byTask].map(([taskId, jobs]) => ({
      task_id: taskId,
      result_hash: proofRoot(jobs.map((j) => j.result_hash as string)),
      worker_address: mainWorker(jobs),
      verified: jobs.every((j) => j.verification === 'verified'),
    }));
    return done;
  }

  /** A task is done when all its jobs are: its result is the Merkle root of theirs. */
  private async completeTasks(
    tx: Queryable,
    taskIds: string[],
    now: number,
  ): Promise<{ taskId: string; resultHash: string; worker: string; escrowHeld: bigint }[]> {
    const done = await this.taskResults(tx, taskIds);
    const completed = new Map(
      (await completeTasks(tx, done, now)).map((c) => [c.task_id, BigInt(c.escrow_held)]),
    );
    return done.flatMap((d) => {
      const escrowHeld = completed.get(d.task_id);
      return escrowHeld === undefined
        ? []
        : [{ taskId: d.task_id, resultHash: d.result_hash, worker: d.worker_address, escrowHeld }];
    });
  }

  private async whyNotCompleted(jobId: string, address: string): Promise<ResultRejected> {
    const job = await getJob(this.ctx.db, jobId);
    if (!job) return new ResultRejected('unknown_job', `no job ${jobId}`);
    if (job.status === 'completed')
      return new ResultRejected('duplicate_result', `job ${jobId} is already completed`);
    if (job.status === 'cancelled') return new ResultRejected('job_cancelled', `job ${jobId} was cancelled`);
    if (job.worker_address !== address)
      return new ResultRejected('not_leased', `job ${jobId} is not leased to ${address}`);
    return new ResultRejected('lease_expired', `the lease on job ${jobId} expired before the result arrived`);
  }

  /**
   * The worker could not run the job. A claim that the payload is invalid is checked: the job
   * goes to another provider and fails only when failure_claims_needed independent providers say
   * so (a claim a later result contradicts costs reputation). Any other failure puts the job back;
   * it costs reputation, except on probation, where the challenge type rests for a while instead.
   */
  async failed(session: Session, msg: JobFailed): Promise<void> {
    const { ctx } = this;
    const running = session.running.get(msg.job_id);
    if (!running)
      throw new ResultRejected('not_leased', `job ${msg.job_id} is not leased to ${session.address}`);
    const params = ctx.params();
    const probation = onProbation(session.trust?.verifiedJobs ?? 0, session.trust?.staked ?? false, params);
    // On probation the type rests before the slot frees, so no tick in between hands it the same work.
    const rest =
      msg.reason !== 'invalid_payload' && probation
        ? this.rest(session, running.challengeType, params)
        : undefined;
    session.running.delete(msg.job_id);
    ctx.events.emit('job.failed', { jobId: msg.job_id, worker: session.address, reason: msg.reason });
    if (msg.reason === 'invalid_payload') await this.claimInvalid(session, msg, params);
    else if (rest) {
      await rest.persist(`${msg.reason}: ${msg.message}`);
      await this.leases.release([msg.job_id], `job_failed ${msg.reason}`, { worker: session.address });
    } else
      await this.leases.release([msg.job_id], `job_failed ${msg.reason}`, {
        worker: session.address,
        outcome: 'failure',
      });
    ctx.kick();
  }

  private async claimInvalid(session: Session, msg: JobFailed, params: SchedulerParams): Promise<void> {
    const { ctx } = this;
    const now = ctx.clock.nowMs();
    const { failedJobs, requeued } = await ctx.db.transaction(async (tx) => {
      // The provider's bond goes back: an invalid payload is not an SLA miss.
      await returnBonds(tx, [msg.job_id], now);
      const claim = await addFailureClaim(tx, msg.job_id, session.address);
      if (claim && !claimsAgree(claim.claims, params)) {
        const requeued = await refuseResults(
          tx,
          [{ job_id: msg.job_id, worker_address: session.address }],
          now,
        );
        return { failedJobs: [], requeued };
      }
      // Independent providers agree the payload cannot run: the job fails for good, and nobody's
      // reputation pays for the customer's payload, though the run counts as failed.
      const failed = await failJobs(
        tx,
        [{ job_id: msg.job_id, worker_address: session.address, reason: `invalid_payload: ${msg.message}` }],
        now,
      );
      await recordOutcomes(tx, [], now, params, { failedAlso: failed.length > 0 ? [session.address] : [] });
      return { failedJobs: failed, requeued: [] };
    });
    if (requeued.length > 0) ctx.queue.add(await queueEntries(ctx.db, requeued));
    await this.leases.failTasks(failedJobs.map((j) => j.task_id));
  }

  /**
   * A provider on probation rests a challenge type it failed: at once in memory (matching sees it
   * from the next tick), then stored, and the provider is told why.
   */
  private rest(session: Session, challengeType: string, params: SchedulerParams) {
    const { ctx } = this;
    const now = ctx.clock.nowMs();
    const cooldowns = withCooldown(session.trust?.cooldowns ?? {}, challengeType, now, params);
    if (session.trust) session.trust.cooldowns = cooldowns;
    return {
      persist: async (why: string) => {
        await setCooldowns(ctx.db, session.address, cooldowns);
        const until = cooldowns[challengeType] as number;
        ctx.events.emit('verification.cooldown', { address: session.address, challengeType, until });
        session.send({
          type: 'notice',
          code: 'type_resting',
          message:
            `a ${challengeType} job failed (${why}) while this provider is on probation: no ${challengeType} ` +
            `work for ${params.probation_cooldown_secs} s; fix the runner (taskmarket worker --self-test) meanwhile`,
        });
      },
    };
  }
}

/** What a decision made before the transaction writes on the completed job (nothing for a replica). */
function decidedVerification(d: Decision | undefined): {
  verification: VerificationStatus | null;
  verifiers: string[];
  canary: 'pass' | null;
} {
  if (!d || d.kind === 'refused') return { verification: null, verifiers: [], canary: null };
  if (d.kind === 'verified') return { verification: 'verified', verifiers: [MARKET_VERIFIER], canary: null };
  if (d.kind === 'pending') return { verification: 'pending', verifiers: [], canary: null };
  return { verification: 'sampled_out', verifiers: [], canary: d.canary === 'pass' ? 'pass' : null };
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
