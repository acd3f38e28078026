// The market as validator (spec task-market.md: it "verifies results" before it pays). The rules
// are src/domain/verification.ts; this applies them to results as they commit:
//
//   result of a task's job ──decide──▶ sampled_out      (final; maybe one canary slice checked)
//                                 ├──▶ verified         (the market re-computed it: final)
//                                 ├──▶ refused          (the market proved it wrong: fraud, requeued)
//                                 └──▶ pending ──replica on another provider──▶ verdict
//   verdict: two agree ─▶ verified (the minority is a fraud) · no two agree ─▶ one more replica,
//            up to verification_max_results, then the job fails
//
// An audit (a customer's dispute, or a caught provider's unchecked results) replicates a job whose
// task has already completed and settled: the same verdict, but it corrects the task's result
// instead of failing it, and pays its auditors from the validators' share (src/market/disputes.ts).
//
// Decisions that need computing (a market check) are made before the result's transaction; the
// rest happens inside it, so a crash never leaves a result final without its verdict. What a
// verdict does to providers (reputation, fraud marks, bonds, counters) is returned to the caller
// and written in the same transaction.

import { randomBytes, randomUUID } from 'node:crypto';
import { blake3HexLarge } from '../domain/hash.js';
import { capabilityProblem } from '../domain/matcher.js';
import { runSynthetic, runSyntheticSync } from '../domain/synthetic.js';
import {
  canarySlice,
  checkMethod,
  draw,
  drawKey,
  onProbation,
  syntheticMuladds,
  verdict,
  verifyRate,
  type Delivered,
  type DisputeStatus,
  type VerificationStatus,
} from '../domain/verification.js';
import type { SchedulerParams } from '../domain/scheduler-params.js';
import type { BatchedResult } from '../domain/schemas/worker.js';
import type { Queryable } from '../store/db.js';
import { resolveDisputes } from '../store/disputes.js';
import { getBlob } from '../store/providers.js';
import { getTask } from '../store/tasks.js';
import {
  acceptReplicaResult,
  cancelReplicasOf,
  deliveredResults,
  failUnverified,
  insertReplicas,
  markFraud,
  primaryInfo,
  setVerification,
  uncheckedResultsOf,
  type DeliveredRow,
  type NewReplica,
} from '../store/verification.js';
import type { DispatchContext } from './dispatch-context.js';
import { jobNeed, trustedCapability } from './dispatch.js';
import type { OutcomeChange } from './reputation-book.js';
import type { CheckedJob, Session } from './sessions.js';

/** What the market decided about a task's job as its result came in. */
export type Decision =
  | { kind: 'sampled_out'; canary?: 'pass' | undefined; unavailable?: boolean | undefined }
  | { kind: 'verified' }
  | { kind: 'pending'; runnerId: string | null }
  | { kind: 'refused'; reason: string; canary?: 'fail' | undefined };

export interface CompletedJob {
  jobId: string;
  taskId: string;
  worker: string;
}

export interface Count {
  kind: 'verification' | 'canary' | 'fraud';
  result: string;
  n: number;
}

/** What verification changed in the result's transaction, for the caller to finish there and after. */
export interface VerifyOutcome {
  /** Task jobs whose results became final: their tasks may be done. */
  final: { jobId: string; taskId: string }[];
  outcomes: OutcomeChange[];
  fraud: { address: string; jobId: string; reason: string }[];
  /** Bonds that go back, and bonds slashed (a fraud's). */
  returned: string[];
  slashed: string[];
  /** Task jobs that failed because no two results agreed. */
  failed: { job_id: string; task_id: string }[];
  /** Jobs queued by verification: new replicas. */
  queued: string[];
  /** Replicas cancelled because their verdict was already in; their workers are told. */
  cancelled: { job_id: string; worker_address: string | null }[];
  counts: Count[];
  /** Verified results, each with its provider, units and run time. */
  verified: { address: string; units: number; ms: number }[];
  /** Providers whose invalid-payload claims a standing result contradicted (once per claim). */
  contradicted: string[];
  /** Completed tasks an audit's verdict touched: their result and verified flag are re-derived. */
  amended: string[];
  /** Of those, the tasks whose result an audit replaced: their customers are told again. */
  corrected: string[];
  /** Customers' disputes the verdicts resolved. */
  resolved: { jobId: string; status: DisputeStatus }[];
  /** Settled jobs an audit verified, with the providers that verified them: they are paid now. */
  audited: { jobId: string; taskId: string; verifiers: string[] }[];
}

/** What verification changes when nothing changed yet. */
export function emptyOutcome(): VerifyOutcome {
  return {
    final: [],
    outcomes: [],
    fraud: [],
    returned: [],
    slashed: [],
    failed: [],
    queued: [],
    cancelled: [],
    counts: [],
    verified: [],
    contradicted: [],
    amended: [],
    corrected: [],
    resolved: [],
    audited: [],
  };
}

/**
 * A job's result stands: the job is final, its bond goes back, its worker earns a success, and
 * providers that called its payload invalid were contradicted.
 */
function finaliseInto(
  out: VerifyOutcome,
  job: Pick<CheckedJob, 'job_id' | 'task_id' | 'failure_claims'>,
  worker: string,
): void {
  out.final.push({ jobId: job.job_id, taskId: job.task_id });
  out.returned.push(job.job_id);
  out.outcomes.push({ address: worker, outcome: 'success' });
  for (const claimant of job.failure_claims) {
    out.contradicted.push(claimant);
    out.outcomes.push({ address: claimant, outcome: 'failure' });
  }
}

/**
 * A task job's result final by a decision made before the transaction: finalised, plus a
 * verified result for its provider, and the verification and canary counts.
 */
export function decidedFinal(
  out: VerifyOutcome,
  worker: string,
  job: Pick<CheckedJob, 'job_id' | 'task_id' | 'failure_claims' | 'units' | 'started_at_ms'>,
  d: Extract<Decision, { kind: 'sampled_out' | 'verified' }>,
  now: number,
): void {
  finaliseInto(out, job, worker);
  const count = (kind: Count['kind'], result: string) => out.counts.push({ kind, result, n: 1 });
  if (d.kind === 'sampled_out') {
    count('verification', d.unavailable ? 'unavailable' : 'sampled_out');
    if (d.canary) count('canary', d.canary);
    return;
  }
  out.verified.push({ address: worker, units: job.units, ms: now - (job.started_at_ms ?? now) });
  count('verification', 'verified');
}

/** Synthetic checks this small (about a millisecond) run without yielding. */
const SYNC_CHECK_MULADDS = 1_000_000;

export class Verifier {
  /** Draws are keyed by a secret only this process knows: no worker can predict them. */
  private readonly key = drawKey(randomBytes(32));

  constructor(private readonly ctx: DispatchContext) {}

  /**
   * Decides, before the transaction, what happens to each task job's result: the draws, and the
   * market's own checks, which compute. Replicas' results are not decided here: their verdict
   * needs the results already stored.
   */
  async decide(
    items: readonly { session: Session; msg: BatchedResult }[],
    jobs: ReadonlyMap<string, CheckedJob>,
    params: SchedulerParams,
  ): Promise<Map<string, Decision>> {
    const now = this.ctx.clock.nowMs();
    const decided = await Promise.all(
      items.map(async ({ session, msg }) => {
        const job = jobs.get(msg.job_id);
        if (!job || job.verifies !== null) return undefined;
        return [msg.job_id, await this.decideOne(session, msg, job, params, now)] as const;
      }),
    );
    return new Map(decided.filter((d) => d !== undefined));
  }

  private async decideOne(
    session: Session,
    msg: BatchedResult,
    job: CheckedJob,
    params: SchedulerParams,
    now: number,
  ): Promise<Decision> {
    if (!params.verification_enabled) return { kind: 'sampled_out' };
    const type = job.challenge_type as keyof NonNullable<Session['capability']['runners']>;
    const runner = session.capability.runners?.[type];
    const method = checkMethod(
      {
        challengeType: type,
        payload: job.payload,
        runnerId: runner?.id,
        deterministic: runner?.deterministic,
      },
      params,
    );
    const trust = session.trust;
    const probation = onProbation(trust?.verifiedJobs ?? 0, trust?.staked ?? false, params);
    const rate = verifyRate(this.ctx.reputation.scoreOf(session.address, now), probation, params);
    const drawn = method !== 'none' && draw(this.key, job.job_id, 'verify') < rate;
    if (drawn && method === 'market') {
      const all = job.slices.map((_, i) => i);
      const wrong = await this.marketCheck(job, msg.proof, all);
      if (wrong === null) return { kind: 'sampled_out', unavailable: true };
      return wrong.length === 0
        ? { kind: 'verified' }
        : { kind: 'refused', reason: `the market re-computed slice ${wrong[0]} and got another proof` };
    }
    if (drawn && method === 'replicate') {
      if (!this.someoneElseCan(session.address, job, runner?.id ?? null))
        return { kind: 'sampled_out', unavailable: true };
      return { kind: 'pending', runnerId: runner?.id ?? null };
    }
    const bytes = job.challenge_type === 'transcode' || job.challenge_type === 'gpuhash';
    if (
      method === 'market' &&
      bytes &&
      params.verification_enabled &&
      draw(this.key, job.job_id, 'canary') < params.canary_rate
    ) {
      const slice = canarySlice(this.key, job.job_id, job.slices.length);
      const wrong = await this.marketCheck(job, msg.proof, [slice]);
      if (wrong === null) return { kind: 'sampled_out' };
      return wrong.length === 0
        ? { kind: 'sampled_out', canary: 'pass' }
        : { kind: 'refused', reason: `canary slice ${slice} has the wrong proof`, canary: 'fail' };
    }
    return { kind: 'sampled_out' };
  }

  /**
   * A connected provider other than this one and the job's claimants that matching would give the
   * replica to (the same rule: type, model, runner, fee mix, requirements), free or not.
   */
  private someoneElseCan(address: string, job: CheckedJob, runnerId: string | null): boolean {
    const need = { ...jobNeed(job), runnerId };
    const now = this.ctx.clock.nowMs();
    const params = this.ctx.params();
    for (const s of this.ctx.sessions.values()) {
      if (s.address === address || !s.offer || s.trust?.fraud || job.failure_claims.includes(s.address))
        continue;
      if (capabilityProblem(trustedCapability(s, now, params), need) === null) return true;
    }
    return false;
  }

  /**
   * The slices (of those asked) whose proofs differ from what the market computes itself; null
   * when the market cannot compute them (the input is gone).
   */
  private async marketCheck(
    job: CheckedJob,
    proofs: readonly string[],
    which: readonly number[],
  ): Promise<number[] | null> {
    const p = job.payload;
    if (job.challenge_type === 'synthetic') {
      if (typeof p.seed !== 'string' || typeof p.matrix_size !== 'number' || typeof p.iterations !== 'number')
        return null;
      const params = { seed: p.seed, matrix_size: p.matrix_size, iterations: p.iterations };
      // A millisecond or so runs at once; larger ones yield to the event loop as they go.
      const { proof } =
        syntheticMuladds(p) <= SYNC_CHECK_MULADDS ? runSyntheticSync(params) : await runSynthetic(params);
      return proofs[0] === proof ? [] : [0];
    }
    const input = await this.inputOf(job);
    if (!input) return null;
    const wrong: number[] = [];
    for (const i of which) {
      const slice = job.slices[i] as { kind?: string; start?: number; end?: number } | undefined;
      if (slice?.kind !== 'bytes' || slice.start === undefined || slice.end === undefined) return null;
      const expected = await blake3HexLarge(input.subarray(slice.start, slice.end));
      if (proofs[i] !== expected) wrong.push(i);
    }
    return wrong;
  }

  /** A byte job's input: its blob, or the task's inline input (not kept with running jobs). */
  private async inputOf(job: CheckedJob): Promise<Uint8Array | undefined> {
    const blob = job.payload.input_blob;
    if (typeof blob === 'string') return getBlob(this.ctx.db, blob);
    const inline =
      typeof job.payload.input === 'string'
        ? job.payload.input
        : (await getTask(this.ctx.db, job.task_id))?.payload.input;
    return typeof inline === 'string' ? Buffer.from(inline, 'base64') : undefined;
  }

  /**
   * Inside the result's transaction, after the completed jobs are written: task jobs take their
   * decisions, replicas' results are judged against the others delivered for the same job.
   */
  async apply(
    tx: Queryable,
    completed: readonly CompletedJob[],
    decisions: ReadonlyMap<string, Decision>,
    jobs: ReadonlyMap<string, CheckedJob>,
    refused: readonly { address: string; jobId: string; reason: string }[],
    sessions: ReadonlyMap<string, Session>,
    now: number,
    params: SchedulerParams,
  ): Promise<VerifyOutcome> {
    const out = emptyOutcome();
    const status: { job_id: string; verification: VerificationStatus; verifiers?: string[] }[] = [];
    const replicas: NewReplica[] = [];
    const { verified } = out;
    const count = (kind: Count['kind'], result: string) => out.counts.push({ kind, result, n: 1 });
    const finalise = (
      job: Pick<CheckedJob, 'job_id' | 'task_id' | 'failure_claims'>,
      worker: string,
      verifiers: string[] | null,
    ) => {
      finaliseInto(out, job, worker);
      if (verifiers) status.push({ job_id: job.job_id, verification: 'verified', verifiers });
    };

    const primaries = completed.filter((c) => jobs.get(c.jobId)?.verifies === null);
    for (const c of primaries) {
      const job = jobs.get(c.jobId) as CheckedJob;
      const d = decisions.get(c.jobId) ?? { kind: 'sampled_out' };
      // The decision's status is written with the completed job itself (completeJobs).
      if (d.kind === 'sampled_out' || d.kind === 'verified') {
        decidedFinal(out, c.worker, job, d, now);
      } else if (d.kind === 'pending') {
        replicas.push({
          job_id: randomUUID(),
          verifies: c.jobId,
          excluded: [c.worker, ...job.failure_claims],
          runner_id: d.runnerId,
        });
        count('verification', 'pending');
      }
    }

    // Replicas' results: the verdict over everything delivered for their job so far.
    const judged = [...new Set(completed.flatMap((c) => jobs.get(c.jobId)?.verifies ?? []))];
    const delivered = await deliveredResults(tx, judged);
    const byPrimary = new Map<string, DeliveredRow[]>();
    for (const d of delivered) byPrimary.set(d.primary_id, [...(byPrimary.get(d.primary_id) ?? []), d]);
    const replicaJobs = completed.filter((c) => jobs.get(c.jobId)?.verifies != null);
    const primaryRows = await primaryInfo(tx, judged);
    for (const primaryId of judged) {
      const rows = byPrimary.get(primaryId) ?? [];
      const primary = primaryRows.get(primaryId);
      const own = rows.find((r) => r.job_id === primaryId);
      // A verdict already in (the task closed, or another replica decided): nothing to judge.
      if (!primary || !own || (primary.verification !== 'pending' && primary.verification !== 'disputed')) {
        out.returned.push(
          ...replicaJobs.filter((r) => jobs.get(r.jobId)?.verifies === primaryId).map((r) => r.jobId),
        );
        continue;
      }
      const results: Delivered[] = rows.map((r) => ({ address: r.address, resultHash: r.result_hash }));
      const v = verdict(results, params.verification_max_results);
      const replicaIds = rows.filter((r) => r.job_id !== primaryId).map((r) => r.job_id);
      if (v.kind === 'more') {
        status.push({ job_id: primaryId, verification: 'disputed' });
        replicas.push({
          job_id: randomUUID(),
          verifies: primaryId,
          excluded: [...new Set([...rows.map((r) => r.address), ...primary.failure_claims])],
          runner_id: own.runner_id ?? rows.find((r) => r.runner_id !== null)?.runner_id ?? null,
        });
        out.returned.push(...replicaIds);
        count('verification', 'disputed');
        continue;
      }
      out.cancelled.push(...(await cancelReplicasOf(tx, [primaryId], now)));
      // An audit after the task completed judges a result already paid for: it may correct the
      // task's result, never fail it.
      const audited = primary.task_status === 'completed';
      if (audited) out.amended.push(primary.task_id);
      if (v.kind === 'failed') {
        status.push({ job_id: primaryId, verification: 'failed' });
        if (!audited) out.failed.push(...(await failUnverified(tx, [primaryId], 'results_disagree', now)));
        out.returned.push(primaryId, ...replicaIds);
        out.resolved.push({ jobId: primaryId, status: 'unresolved' });
        count('verification', 'failed');
        continue;
      }
      // Two agree: the accepted result stands, delivered by the primary's provider or not.
      const winner = rows.find((r) => r.result_hash === v.accepted) as DeliveredRow;
      if (winner.job_id !== primaryId) {
        await acceptReplicaResult(tx, primaryId, winner.job_id);
        if (audited) out.corrected.push(primary.task_id);
      }
      const verifiers = v.agreeing.filter((a) => a !== winner.address);
      // Claims were judged when the result first became final; an audit does not count them twice.
      const claims = audited ? [] : primary.failure_claims;
      finalise({ ...primary, job_id: primaryId, failure_claims: claims }, winner.address, verifiers);
      // An audit's providers are all paid as verifiers: the worker share went out at settlement.
      if (audited)
        out.audited.push({
          jobId: primaryId,
          taskId: primary.task_id,
          verifiers: v.agreeing.filter((a) => a !== own.address),
        });
      for (const r of rows) {
        const agreed = r.result_hash === v.accepted;
        if (r.job_id !== primaryId) (agreed ? out.returned : out.slashed).push(r.job_id);
        else if (!agreed) {
          // finalise returned the primary's bond with the job; a fraud's is slashed instead.
          out.returned.splice(out.returned.indexOf(primaryId), 1);
          out.slashed.push(primaryId);
        }
        if (agreed) {
          verified.push({
            address: r.address,
            units: primary.units,
            ms: (r.finished_at_ms ?? now) - (r.started_at_ms ?? now),
          });
          if (r.address !== winner.address) out.outcomes.push({ address: r.address, outcome: 'success' });
        }
      }
      out.resolved.push({
        jobId: primaryId,
        status: v.minority.includes(own.address) ? 'upheld' : 'rejected',
      });
      for (const address of v.minority)
        out.fraud.push({
          address,
          jobId: primaryId,
          reason: 'its result disagreed with two independent providers',
        });
      count('verification', 'verified');
    }

    for (const r of refused) {
      out.fraud.push(r);
      const d = decisions.get(r.jobId);
      count('verification', 'refused');
      if (d?.kind === 'refused' && d.canary) count('canary', d.canary);
    }

    // Frauds: marked, reputation to the bottom, and what they delivered unchecked is checked now.
    for (const f of out.fraud) out.outcomes.push({ address: f.address, outcome: 'fraud' });
    const marked = await markFraud(
      tx,
      [...new Map(out.fraud.map((f) => [f.address, f])).values()].map((f) => ({
        address: f.address,
        reason: f.reason,
      })),
      now,
    );
    const windowStart = now - params.dispute_window_secs * 1000;
    for (const address of marked) {
      count('fraud', 'detected');
      for (const j of await uncheckedResultsOf(tx, address, windowStart)) {
        status.push({ job_id: j.job_id, verification: 'pending' });
        const runners = sessions.get(address)?.capability.runners;
        replicas.push({
          job_id: randomUUID(),
          verifies: j.job_id,
          excluded: [address],
          runner_id: runners?.[j.challenge_type as keyof typeof runners]?.id ?? null,
        });
      }
    }

    await setVerification(tx, status);
    await insertReplicas(tx, replicas, now);
    const resolved = await resolveDisputes(
      tx,
      out.resolved.map((r) => ({ job_id: r.jobId, status: r.status })),
      now,
    );
    out.resolved = resolved.map((d) => ({ jobId: d.job_id, status: d.status }));
    out.queued.push(...replicas.map((r) => r.job_id));
    return out;
  }
}
