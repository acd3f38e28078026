// Customers' disputes of results (migration 0055): one per job, resolved by an audit's verdict or
// recorded at once. Every change is conditional on the state it expects.

import type { DisputeKind, DisputeStatus, VerificationStatus } from '../domain/verification.js';
import type { Queryable } from './db.js';

/** A task's job as deciding a dispute needs it, with the task and the provider's capability. */
export interface DisputableJob {
  job_id: string;
  task_id: string;
  challenge_type: string;
  worker_address: string;
  verification: VerificationStatus | null;
  failure_claims: string[];
  payload: Record<string, unknown>;
  task_status: string;
  completed_at_ms: number | null;
  /** The provider's capability as it last connected (its runners). */
  capability: Record<string, unknown> | null;
}

/** A completed task's jobs (or one of them), locked, as a dispute needs them. */
export async function disputableJobs(
  tx: Queryable,
  taskId: string,
  jobId: string | null,
): Promise<DisputableJob[]> {
  return tx.query<DisputableJob & Record<string, unknown>>(
    `SELECT j.job_id, j.task_id, j.challenge_type, j.worker_address, j.verification, j.failure_claims, t.payload,
            t.status AS task_status, t.completed_at_ms, p.capability
     FROM jobs j JOIN tasks t USING (task_id) LEFT JOIN providers p ON p.address = j.worker_address
     WHERE j.task_id = $1 AND j.verifies IS NULL AND j.status = 'completed' AND ($2::uuid IS NULL OR j.job_id = $2)
     ORDER BY j.idx FOR UPDATE OF j`,
    [taskId, jobId],
  );
}

export interface DisputeRow {
  dispute_id: string;
  job_id: string;
  task_id: string;
  provider: string;
  kind: DisputeKind;
  status: DisputeStatus;
  reason: string;
  created_at_ms: number;
  resolved_at_ms: number | null;
}

const COLUMNS = `dispute_id, job_id, task_id, provider, kind, status, reason, created_at_ms, resolved_at_ms`;

/** Records disputes; a job already disputed keeps its first (returns only those inserted). */
export async function insertDisputes(
  tx: Queryable,
  rows: readonly Omit<DisputeRow, 'resolved_at_ms'>[],
  accountId: string,
): Promise<DisputeRow[]> {
  if (rows.length === 0) return [];
  return tx.query<DisputeRow & Record<string, unknown>>(
    `INSERT INTO disputes (dispute_id, job_id, task_id, account_id, provider, kind, status, reason, created_at_ms)
     SELECT x.dispute_id, x.job_id, x.task_id, $2, x.provider, x.kind, x.status, x.reason, x.created_at_ms
     FROM jsonb_to_recordset($1::jsonb)
          AS x(dispute_id uuid, job_id uuid, task_id uuid, provider text, kind text, status text, reason text,
               created_at_ms bigint)
     ON CONFLICT (job_id) DO NOTHING
     RETURNING ${COLUMNS}`,
    [JSON.stringify(rows), accountId],
  );
}

/** Open audits take their verdict; returns the disputes resolved. */
export async function resolveDisputes(
  tx: Queryable,
  rows: readonly { job_id: string; status: DisputeStatus }[],
  nowMs: number,
): Promise<DisputeRow[]> {
  if (rows.length === 0) return [];
  return tx.query<DisputeRow & Record<string, unknown>>(
    `UPDATE disputes d SET status = x.status, resolved_at_ms = $2
     FROM jsonb_to_recordset($1::jsonb) AS x(job_id uuid, status text)
     WHERE d.job_id = x.job_id AND d.status = 'open'
     RETURNING d.dispute_id, d.job_id, d.task_id, d.provider, d.kind, d.status, d.reason, d.created_at_ms,
               d.resolved_at_ms`,
    [JSON.stringify(rows), nowMs],
  );
}

export function disputesOfTask(q: Queryable, taskId: string): Promise<DisputeRow[]> {
  return q.query<DisputeRow & Record<string, unknown>>(
    `SELECT ${COLUMNS} FROM disputes WHERE task_id = $1 ORDER BY created_at_ms, job_id`,
    [taskId],
  );
}

/** A completed task's result, main worker and verified flag after an audit's verdict on one of its jobs. */
export async function amendTaskResults(
  tx: Queryable,
  rows: readonly { task_id: string; result_hash: string; worker_address: string; verified: boolean }[],
  nowMs: number,
): Promise<void> {
  if (rows.length === 0) return;
  await tx.query(
    `UPDATE tasks t SET result_hash = x.result_hash, worker_address = x.worker_address, verified = x.verified,
            updated_at_ms = $2
     FROM jsonb_to_recordset($1::jsonb) AS x(task_id uuid, result_hash text, worker_address text, verified boolean)
     WHERE t.task_id = x.task_id AND t.status = 'completed'`,
    [JSON.stringify(rows), nowMs],
  );
}

/** Disputes by status, since the database began. */
export async function disputeCounts(q: Queryable): Promise<Record<string, number>> {
  const rows = await q.query<{ status: string; n: number }>(
    `SELECT status, count(*)::int8 AS n FROM disputes GROUP BY status`,
  );
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}
