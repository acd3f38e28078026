// Job queries. Every status change is conditional on the status (and lease holder) it expects,
// so a decision made on stale data — a second node, a late result — changes nothing.

import { statusesLeadingTo } from '../domain/task-state.js';
import type { Priority } from '../domain/priority.js';
import type { VerificationStatus } from '../domain/verification.js';
import type { Queryable } from './db.js';

export type JobStatus = 'queued' | 'leased' | 'completed' | 'failed' | 'cancelled';

export interface JobRow {
  job_id: string;
  task_id: string;
  idx: number;
  seq: number;
  challenge_type: string;
  slices: unknown[];
  units: number;
  status: JobStatus;
  attempts: number;
  worker_address: string | null;
  lease_expires_at_ms: number | null;
  result_hash: string | null;
  proof: string[] | null;
  output: Record<string, unknown> | null;
  failure_reason: string | null;
  queued_at_ms: number;
  started_at_ms: number | null;
  finished_at_ms: number | null;
  /** A replica's primary job; null for a task's own job. */
  verifies: string | null;
  verification: VerificationStatus | null;
  verifiers: string[];
  failure_claims: string[];
}

export interface NewJobRow {
  priority: string;
  /** Fixed when queued: arrival minus the priority's head start (src/domain/priority.ts). */
  sort_key_ms: number;
  job_id: string;
  task_id: string;
  idx: number;
  challenge_type: string;
  slices: unknown[];
  units: number;
  queued_at_ms: number;
}

const COLUMNS = `job_id, task_id, idx, seq, challenge_type, slices, units, status, attempts, worker_address,
  lease_expires_at_ms, result_hash, proof, output, failure_reason, queued_at_ms, started_at_ms, finished_at_ms, verifies,
  verification, verifiers, failure_claims`;

export async function insertJobs(tx: Queryable, rows: readonly NewJobRow[]): Promise<void> {
  if (rows.length === 0) return;
  await tx.query(
    `INSERT INTO jobs (job_id, task_id, idx, challenge_type, slices, units, status, queued_at_ms, priority, sort_key_ms)
     SELECT job_id, task_id, idx, challenge_type, slices, units, 'queued', queued_at_ms, priority, sort_key_ms
     FROM jsonb_to_recordset($1::jsonb) AS x(job_id uuid, task_id uuid, idx int, challenge_type text, slices jsonb,
          units bigint, queued_at_ms bigint, priority text, sort_key_ms bigint)
     ORDER BY task_id, idx`,
    [JSON.stringify(rows)],
  );
}

/** A queued job with what matching needs from its task. */
export interface QueuedJob {
  job_id: string;
  task_id: string;
  seq: number;
  challenge_type: string;
  units: number;
  slices: unknown[];
  payload: Record<string, unknown>;
  requirements: Record<string, unknown> | null;
  reward: string;
  task_units: number;
  queued_at_ms: number;
  priority: Priority;
  /** The task's CT percentage: only offers with the same fee_pct_ct take the job. */
  fee_pct_ct: number;
  /** A replica's task job (the one it checks), or null for a task job. */
  verifies: string | null;
  /** Providers that called the payload invalid so far. */
  failure_claims: string[];
  /**
   * What settling its task alone needs (the one-round-trip commit, src/market/fast-commit.ts):
   * the buyer, the task's two assets and job count, and the price the lease quoted.
   */
  account_id?: string;
  asset?: string;
  it_asset?: string;
  jobs_total?: number;
  quote_price?: string | null;
}

/** The columns of a QueuedJob: a job with what matching and its job message need of its task. */
export const QUEUED_JOB_COLUMNS = `j.job_id, j.task_id, j.seq, j.challenge_type, j.units, j.slices, t.payload,
  t.requirements, t.reward::text AS reward, t.units AS task_units, j.queued_at_ms, j.priority, t.fee_pct_ct,
  j.verifies, j.failure_claims, t.account_id, t.asset, t.it_asset, t.jobs_total, j.quote_price::text AS quote_price`;

/**
 * Leases jobs to workers if they are still queued, and moves their tasks to in_progress, in one
 * statement over typed arrays; returns the jobs actually leased with what their job messages need
 * (QUEUED_JOB_COLUMNS), so the dispatcher sends them without reading them again.
 */
export async function leaseJobs(
  tx: Queryable,
  leases: readonly {
    job_id: string;
    worker_address: string;
    lease_expires_at_ms: number;
    quote_price: string;
  }[],
  now: number,
): Promise<QueuedJob[]> {
  if (leases.length === 0) return [];
  // `leased` returns every job column, so QUEUED_JOB_COLUMNS can name any of them. The final
  // SELECT reads tasks as they were before `started` (one snapshot per statement): only columns
  // `started` leaves alone (payload, requirements, reward, units, fee_pct_ct).
  return tx.query<QueuedJob & Record<string, unknown>>(
    `WITH leased AS (
       UPDATE jobs j SET status = 'leased', worker_address = x.worker_address, lease_expires_at_ms = x.lease_expires_at_ms,
              attempts = j.attempts + 1, started_at_ms = $5, quote_price = x.quote_price
       FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::numeric[])
         AS x(job_id, worker_address, lease_expires_at_ms, quote_price)
       WHERE j.job_id = x.job_id AND j.status = 'queued'
       RETURNING j.*),
     started AS (
       UPDATE tasks t SET status = 'in_progress', updated_at_ms = $5
       FROM (SELECT DISTINCT task_id FROM leased) l
       WHERE t.task_id = l.task_id AND t.status = ANY($6::text[]))
     SELECT ${QUEUED_JOB_COLUMNS} FROM leased j JOIN tasks t USING (task_id)`,
    [
      leases.map((l) => l.job_id),
      leases.map((l) => l.worker_address),
      leases.map((l) => l.lease_expires_at_ms),
      leases.map((l) => l.quote_price),
      now,
      statusesLeadingTo('in_progress'),
    ],
  );
}

/** Pushes the leases of these jobs forward, if this worker still holds them. */
export async function extendLeases(
  q: Queryable,
  worker: string,
  jobIds: readonly string[],
  until: number,
): Promise<string[]> {
  if (jobIds.length === 0) return [];
  const rows = await q.query<{ job_id: string }>(
    `UPDATE jobs SET lease_expires_at_ms = $3
     WHERE status = 'leased' AND worker_address = $1
       AND job_id IN (SELECT value::uuid FROM jsonb_array_elements_text($2::jsonb))
     RETURNING job_id`,
    [worker, JSON.stringify(jobIds), until],
  );
  return rows.map((r) => r.job_id);
}

export async function getJob(q: Queryable, jobId: string): Promise<JobRow | undefined> {
  const rows = await q.query<JobRow & Record<string, unknown>>(
    `SELECT ${COLUMNS} FROM jobs WHERE job_id = $1`,
    [jobId],
  );
  return rows[0];
}

/** The tasks' own jobs (not the replicas that check them), in task and index order. */
export async function jobsOfTasks(q: Queryable, taskIds: readonly string[]): Promise<JobRow[]> {
  if (taskIds.length === 0) return [];
  return q.query<JobRow & Record<string, unknown>>(
    `SELECT ${COLUMNS} FROM jobs
     WHERE task_id IN (SELECT value::uuid FROM jsonb_array_elements_text($1::jsonb)) AND verifies IS NULL
     ORDER BY task_id, idx`,
    [JSON.stringify(taskIds)],
  );
}

export function jobsOfTask(q: Queryable, taskId: string): Promise<JobRow[]> {
  return jobsOfTasks(q, [taskId]);
}

/**
 * Pushes these leases to `until` in one statement, each only while its worker still holds it;
 * returns the jobs extended.
 */
export async function renewLeases(
  q: Queryable,
  leases: readonly { job_id: string; worker_address: string }[],
  until: number,
): Promise<string[]> {
  if (leases.length === 0) return [];
  const rows = await q.query<{ job_id: string }>(
    `UPDATE jobs j SET lease_expires_at_ms = $2
     FROM jsonb_to_recordset($1::jsonb) AS x(job_id uuid, worker_address text)
     WHERE j.job_id = x.job_id AND j.status = 'leased' AND j.worker_address = x.worker_address
     RETURNING j.job_id`,
    [JSON.stringify(leases), until],
  );
  return rows.map((r) => r.job_id);
}

export async function releaseJobs(
  tx: Queryable,
  jobIds: readonly string[],
  maxAttempts: number,
  reason: string,
  now: number,
): Promise<{ job_id: string; task_id: string; worker_address: string; status: JobStatus }[]> {
  if (jobIds.length === 0) return [];
  return tx.query(
    `UPDATE jobs j SET
       status = CASE WHEN j.attempts >= $2 THEN 'failed' ELSE 'queued' END,
       failure_reason = CASE WHEN j.attempts >= $2 THEN $3 ELSE j.failure_reason END,
       finished_at_ms = CASE WHEN j.attempts >= $2 THEN $4::bigint ELSE NULL END,
       queued_at_ms = $4, worker_address = NULL, lease_expires_at_ms = NULL, started_at_ms = NULL
     FROM (SELECT job_id, worker_address FROM jobs
           WHERE status = 'leased' AND job_id IN (SELECT value::uuid FROM jsonb_array_elements_text($1::jsonb))
           FOR UPDATE) old
     WHERE j.job_id = old.job_id
     RETURNING j.job_id, j.task_id, old.worker_address, j.status`,
    [JSON.stringify(jobIds), maxAttempts, reason, now],
  );
}

export async function expiredLeases(q: Queryable, now: number, limit: number): Promise<string[]> {
  const rows = await q.query<{ job_id: string }>(
    `SELECT job_id FROM jobs WHERE status = 'leased' AND lease_expires_at_ms < $1 ORDER BY lease_expires_at_ms LIMIT $2`,
    [now, limit],
  );
  return rows.map((r) => r.job_id);
}

export async function leasedJobIdsOf(q: Queryable, worker: string): Promise<string[]> {
  const rows = await q.query<{ job_id: string }>(
    `SELECT job_id FROM jobs WHERE status = 'leased' AND worker_address = $1`,
    [worker],
  );
  return rows.map((r) => r.job_id);
}

export interface CompletedJob {
  job_id: string;
  worker_address: string;
  result_hash: string;
  proof: string[];
  output: Record<string, unknown> | null;
  /** A task's own job: what verification decided as the result came in (null for a replica). */
  verification: VerificationStatus | null;
  verifiers: string[];
  canary: 'pass' | null;
}

/** Completes jobs still leased to the reporting worker; returns those completed with their task. */
export async function completeJobs(
  tx: Queryable,
  results: readonly CompletedJob[],
  now: number,
): Promise<{ job_id: string; task_id: string; worker_address: string }[]> {
  if (results.length === 0) return [];
  return tx.query(
    `UPDATE jobs j SET status = 'completed', result_hash = x.result_hash, proof = x.proof, output = x.output,
            finished_at_ms = $2, lease_expires_at_ms = NULL, verification = x.verification, verifiers = x.verifiers,
            canary = x.canary
     FROM jsonb_to_recordset($1::jsonb)
       AS x(job_id uuid, worker_address text, result_hash text, proof jsonb, output jsonb, verification text,
            verifiers text[], canary text)
     WHERE j.job_id = x.job_id AND j.status = 'leased' AND j.worker_address = x.worker_address AND j.lease_expires_at_ms >= $2
     RETURNING j.job_id, j.task_id, j.worker_address`,
    [JSON.stringify(results), now],
  );
}

/** Fails jobs for good (a payload no runner can run); returns those failed. */
export async function failJobs(
  tx: Queryable,
  failures: readonly { job_id: string; worker_address: string; reason: string }[],
  now: number,
): Promise<{ job_id: string; task_id: string }[]> {
  if (failures.length === 0) return [];
  return tx.query(
    `UPDATE jobs j SET status = 'failed', failure_reason = x.reason, finished_at_ms = $2, lease_expires_at_ms = NULL
     FROM jsonb_to_recordset($1::jsonb) AS x(job_id uuid, worker_address text, reason text)
     WHERE j.job_id = x.job_id AND j.status = 'leased' AND j.worker_address = x.worker_address
     RETURNING j.job_id, j.task_id`,
    [JSON.stringify(failures), now],
  );
}

/** Cancels the open jobs of closed tasks; returns those that were leased, to tell their workers. */
export async function cancelJobsOfTasks(
  tx: Queryable,
  taskIds: readonly string[],
  now: number,
): Promise<{ job_id: string; task_id: string; worker_address: string | null }[]> {
  if (taskIds.length === 0) return [];
  return tx.query(
    `UPDATE jobs j SET status = 'cancelled', finished_at_ms = $2, lease_expires_at_ms = NULL
     FROM (SELECT job_id, worker_address FROM jobs
           WHERE status IN ('queued', 'leased') AND task_id IN (SELECT value::uuid FROM jsonb_array_elements_text($1::jsonb))
           FOR UPDATE) old
     WHERE j.job_id = old.job_id
     RETURNING j.job_id, j.task_id, old.worker_address`,
    [JSON.stringify(taskIds), now],
  );
}

/**
 * Counts done jobs into their tasks; returns tasks whose every job is now done. A task's own job is
 * done when it is completed and its result final: checked, or not drawn for a check.
 */
export async function countDoneJobs(
  tx: Queryable,
  taskIds: readonly string[],
  now: number,
): Promise<string[]> {
  if (taskIds.length === 0) return [];
  const rows = await tx.query<{ task_id: string }>(
    `UPDATE tasks t SET jobs_done = c.done, updated_at_ms = $2
     FROM (SELECT task_id, count(*) FILTER (WHERE status = 'completed' AND verification IN ('verified', 'sampled_out')) AS done
           FROM jobs WHERE verifies IS NULL AND task_id IN (SELECT value::uuid FROM jsonb_array_elements_text($1::jsonb)) GROUP BY task_id) c
     WHERE t.task_id = c.task_id AND t.status IN ('pending', 'in_progress')
     RETURNING t.task_id, t.jobs_done = t.jobs_total AS all_done`,
    [JSON.stringify(taskIds), now],
  );
  return rows.filter((r) => (r as { all_done?: boolean }).all_done).map((r) => r.task_id);
}

/**
 * Refuses results the market proved wrong: each job goes back to the queue, never again to the
 * provider that delivered it. Returns the jobs put back.
 */
export async function refuseResults(
  tx: Queryable,
  refused: readonly { job_id: string; worker_address: string }[],
  now: number,
): Promise<string[]> {
  if (refused.length === 0) return [];
  const rows = await tx.query<{ job_id: string }>(
    `UPDATE jobs j SET status = 'queued', worker_address = NULL, lease_expires_at_ms = NULL, started_at_ms = NULL,
            queued_at_ms = $2, excluded = array_append(j.excluded, x.worker_address)
     FROM jsonb_to_recordset($1::jsonb) AS x(job_id uuid, worker_address text)
     WHERE j.job_id = x.job_id AND j.status = 'leased' AND j.worker_address = x.worker_address
     RETURNING j.job_id`,
    [JSON.stringify(refused), now],
  );
  return rows.map((r) => r.job_id);
}
