// Customers' disputes of results the market accepted unchecked (docs/decisions.md "Verification").
//
//   POST /tasks/{id}/disputes ──▶ work that can be re-derived: audit ──replica──▶ the usual verdict
//                                   (the provider's result stands: rejected; it lost: upheld, the
//                                    provider is a fraud and the task's result is corrected)
//                           └──▶ work nothing can re-derive: recorded, a small reputation cost for
//                                its provider (never below zero)
//
// The audit's verdict is taken in the replica's result transaction (src/market/verification.ts).

import { randomUUID } from 'node:crypto';
import { MarketError } from '../domain/errors.js';
import type { Capability } from '../domain/schemas/capability.js';
import { checkMethod, disputeKind, disputeProblem, type DisputeProblem } from '../domain/verification.js';
import { disputableJobs, disputesOfTask, insertDisputes, type DisputeRow } from '../store/disputes.js';
import { getJob, type JobRow } from '../store/jobs.js';
import { queueEntries } from '../store/queue.js';
import { insertReplicas, setVerification, type NewReplica } from '../store/verification.js';
import type { DispatchContext } from './dispatch-context.js';
import { announceAdjusted, recordOutcomes } from './reputation-book.js';

const PROBLEMS: Record<DisputeProblem, string> = {
  task_not_completed: 'only a completed task’s results can be disputed',
  dispute_window_closed: 'the dispute window (dispute_window_secs after completion) has closed',
  already_verified: 'the result was verified by the market or an independent provider',
  already_checking: 'the result is being checked already',
};

export class Disputes {
  constructor(private readonly ctx: DispatchContext) {}

  /**
   * Disputes a completed task's unchecked results (one job, or every one the task has): audits
   * are queued, recorded disputes count against their providers, all in one transaction.
   */
  async open(
    accountId: string,
    taskId: string,
    body: { job_id?: string; reason: string },
  ): Promise<DisputeRow[]> {
    const { ctx } = this;
    const now = ctx.clock.nowMs();
    const params = ctx.params();
    const { disputes, replicas, adjusted } = await ctx.db.transaction(async (tx) => {
      const jobs = await disputableJobs(tx, taskId, body.job_id ?? null);
      if (jobs.length === 0 && body.job_id !== undefined && !isJobOf(await getJob(tx, body.job_id), taskId))
        throw new MarketError('not_found', `job ${body.job_id} is not a job of task ${taskId}`, {
          job_id: body.job_id,
        });
      if (jobs.length === 0)
        throw new MarketError('not_disputable', 'the task has no completed job to dispute', {
          problem: 'task_not_completed',
        });
      const problems = jobs.map((j) =>
        disputeProblem(
          {
            status: j.task_status,
            completedAtMs: j.completed_at_ms === null ? null : Number(j.completed_at_ms),
          },
          { verification: j.verification },
          now,
          params,
        ),
      );
      const open = jobs.filter((_, i) => problems[i] === null);
      if (open.length === 0) {
        const problem = problems.find((p) => p !== null) as DisputeProblem;
        throw new MarketError('not_disputable', PROBLEMS[problem], { problem });
      }
      const rows = open.map((j) => {
        const runner = (j.capability as Capability | null)?.runners?.[
          j.challenge_type as Capability['challenge_types'][number]
        ];
        const method = checkMethod(
          {
            challengeType: j.challenge_type,
            payload: j.payload,
            runnerId: runner?.id,
            deterministic: runner?.deterministic,
          },
          params,
        );
        return { job: j, runnerId: runner?.id ?? null, kind: disputeKind(method) };
      });
      const disputes = await insertDisputes(
        tx,
        rows.map((r) => ({
          dispute_id: randomUUID(),
          job_id: r.job.job_id,
          task_id: taskId,
          provider: r.job.worker_address,
          kind: r.kind,
          status: r.kind === 'audit' ? ('open' as const) : ('recorded' as const),
          reason: body.reason,
          created_at_ms: now,
        })),
        accountId,
      );
      if (disputes.length === 0)
        throw new MarketError('not_disputable', 'the result is disputed already', {
          problem: 'already_checking',
        });
      const inserted = new Set(disputes.map((d) => d.job_id));
      const audits = rows.filter((r) => r.kind === 'audit' && inserted.has(r.job.job_id));
      const replicas: NewReplica[] = audits.map((r) => ({
        job_id: randomUUID(),
        verifies: r.job.job_id,
        excluded: [r.job.worker_address, ...r.job.failure_claims],
        runner_id: r.runnerId,
      }));
      await setVerification(
        tx,
        audits.map((r) => ({ job_id: r.job.job_id, verification: 'pending' as const })),
      );
      await insertReplicas(tx, replicas, now);
      // Nothing can re-derive the work: the customer's word costs its provider a little reputation.
      const recorded = disputes.filter((d) => d.kind === 'recorded');
      const adjusted = await recordOutcomes(
        tx,
        recorded.map((d) => ({ address: d.provider, outcome: 'disputed' as const })),
        now,
        params,
      );
      return { disputes, replicas, adjusted };
    });
    announceAdjusted(ctx.events, adjusted);
    for (const d of disputes) ctx.events.emit('verification.disputed', { jobId: d.job_id, kind: d.kind });
    if (replicas.length > 0) {
      ctx.queue.add(
        await queueEntries(
          ctx.db,
          replicas.map((r) => r.job_id),
        ),
      );
      ctx.kick();
    }
    return disputes;
  }

  list(taskId: string): Promise<DisputeRow[]> {
    return disputesOfTask(this.ctx.db, taskId);
  }
}

/** The job exists and is one of the task's own (not a replica checking one). */
function isJobOf(job: JobRow | undefined, taskId: string): boolean {
  return job !== undefined && job.task_id === taskId && job.verifies === null;
}
