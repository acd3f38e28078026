// The result commit's common case in one round trip (docs/decisions.md "One round trip per result
// batch"): accepted results of tasks that each have one job, checked or sampled out before the
// transaction, with no bond, no failure claim, no replica and no audit in play. Everything a rule
// or a hash decides is planned here with the same functions the statement-by-statement commit
// uses (receipts, charges, payouts, drafts, reputation, counters); the database function writes
// it and computes what only it knows (each task's escrow and refund). A batch that is not what
// the plan assumed is declined with nothing written, and results.ts commits it the long way.

import { SYSTEM_ACCOUNTS } from '../domain/ledger.js';
import { proofRoot } from '../domain/merkle.js';
import type { SchedulerParams } from '../domain/scheduler-params.js';
import { statusesLeadingTo } from '../domain/task-state.js';
import { commitPlanned } from '../store/commit-results.js';
import { counterRows } from '../store/providers.js';
import type { SettleJob } from '../store/settlement.js';
import type { DispatchContext } from './dispatch-context.js';
import { planOutcomes, type Adjusted } from './reputation-book.js';
import type { CheckedJob } from './sessions.js';
import { decidedFinal, emptyOutcome, type Decision, type VerifyOutcome } from './verification.js';

/** A result to complete: the row completeJobs would write, the job as leased and its decision. */
export interface AloneResult {
  row: {
    job_id: string;
    worker_address: string;
    result_hash: string;
    proof: readonly string[];
    output: Record<string, unknown> | null;
    verification: string | null;
    verifiers: string[];
    canary: string | null;
  };
  job: CheckedJob;
  decision: Decision | undefined;
}

export interface AloneCommitted {
  completed: { job_id: string; task_id: string; worker_address: string }[];
  doneTasks: { taskId: string; resultHash: string; worker: string; escrowHeld: bigint }[];
  adjusted: Adjusted[];
  verification: VerifyOutcome;
  /** The settlement events, for after the commit. */
  announce: () => void;
}

/**
 * Commits the batch in one round trip if it is the common case and the database agrees with the
 * plan; undefined otherwise (nothing written).
 */
export async function commitAlone(
  ctx: DispatchContext,
  results: readonly AloneResult[],
  now: number,
  params: SchedulerParams,
): Promise<AloneCommitted | undefined> {
  if (results.length === 0 || params.sla_bond_pct > 0) return undefined;
  if (new Set(results.map((r) => r.job.job_id)).size !== results.length) return undefined;
  const verification = emptyOutcome();
  const settle: SettleJob[] = [];
  for (const { row, job, decision } of results) {
    const d = decision ?? { kind: 'sampled_out' };
    if (d.kind !== 'sampled_out' && d.kind !== 'verified') return undefined;
    if (job.verifies !== null || job.failure_claims.length > 0 || job.jobs_total !== 1) return undefined;
    if (job.account_id === undefined || job.asset === undefined || job.it_asset === undefined)
      return undefined;
    // What apply() does with a decided task job.
    decidedFinal(verification, row.worker_address, job, d, now);
    settle.push({
      job_id: job.job_id,
      task_id: job.task_id,
      account_id: job.account_id,
      asset: job.asset,
      it_asset: job.it_asset,
      fee_pct_ct: job.fee_pct_ct,
      status: 'completed',
      task_result_hash: proofRoot([row.result_hash]),
      task_worker: row.worker_address,
      result_hash: row.result_hash,
      worker_address: row.worker_address,
      units: job.units,
      quote_price: job.quote_price ?? null,
      verifiers: row.verifiers,
    });
  }
  const settlement = ctx.settlement.planAlone(settle);
  if (!settlement) return undefined;
  // Reputation from the entries the market last committed, as the database would return them
  // (scores are stored rounded); the commit checks the rows still hold them.
  const addresses = [...new Set(verification.outcomes.map((o) => o.address))].sort();
  const stored = new Map(
    addresses.flatMap((a) => {
      const e = ctx.reputation.entry(a);
      return e ? [[a, { ...e, score: Math.round(e.score) }] as const] : [];
    }),
  );
  const outcomes = planOutcomes(stored, verification.outcomes, now, params, {
    verified: verification.verified,
    contradicted: verification.contradicted,
  });
  // Declined, or failed some other way (nothing is written either way: it is one statement), the
  // batch is committed the long way, which then fails as it always did if the fault is still
  // there: the same errors, events and logs (a receipt write that fails is counted there).
  const ok = await commitPlanned(ctx.db, {
    now_ms: now,
    completable: statusesLeadingTo('completed'),
    escrow: SYSTEM_ACCOUNTS.escrow,
    journal_id: settlement.journalId,
    accounts: settlement.accounts,
    account_assets: settlement.accountAssets,
    jobs: results.map((r) => ({ ...r.row, quote_price: r.job.quote_price ?? null, units: r.job.units })),
    tasks: settle.map((j, n) => ({
      ...settlement.tasks[n],
      result_hash: j.task_result_hash,
      worker_address: j.task_worker,
      verified: results[n]?.row.verification === 'verified',
    })),
    receipts: settlement.receipts,
    postings: settlement.postings,
    payouts: settlement.payouts,
    drafts: settlement.drafts,
    reputation: outcomes.saved.map(({ address, entry }) => {
      const old = stored.get(address);
      return {
        address,
        old_score: old?.score ?? null,
        old_epoch: old?.epoch ?? null,
        old_updated_at_ms: old?.updatedAtMs ?? null,
        score: Math.round(entry.score),
        epoch: entry.epoch,
        updated_at_ms: entry.updatedAtMs,
      };
    }),
    counters: counterRows(outcomes.counts),
  }).catch(() => false);
  if (!ok) return undefined;
  ctx.settlement.committedPlan(settlement);
  return {
    completed: results.map((r) => ({
      job_id: r.job.job_id,
      task_id: r.job.task_id,
      worker_address: r.row.worker_address,
    })),
    doneTasks: settle.map((j) => ({
      taskId: j.task_id,
      resultHash: j.task_result_hash as string,
      worker: j.worker_address,
      escrowHeld: 0n,
    })),
    adjusted: outcomes.adjusted,
    verification,
    announce: settlement.emit,
  };
}
