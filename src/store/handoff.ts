// Preemption's storage: reading running jobs as the dispatcher sends them, and moving a lease from
// one provider to another only if the first still holds it, so a handoff decided on stale data
// (the job finished, expired or moved meanwhile) changes nothing.

import type { Queryable } from './db.js';
import { QUEUED_JOB_COLUMNS, type QueuedJob } from './jobs.js';

/** Leased jobs with what a job message and the matcher need, held by the given provider. */
export async function leasedJobsOf(
  q: Queryable,
  worker: string,
  jobIds: readonly string[],
): Promise<QueuedJob[]> {
  if (jobIds.length === 0) return [];
  return q.query<QueuedJob & Record<string, unknown>>(
    `SELECT ${QUEUED_JOB_COLUMNS}
     FROM jobs j JOIN tasks t USING (task_id)
     WHERE j.status = 'leased' AND j.worker_address = $1
       AND j.job_id IN (SELECT value::uuid FROM jsonb_array_elements_text($2::jsonb))
     ORDER BY j.seq`,
    [worker, JSON.stringify(jobIds)],
  );
}

/**
 * Moves a lease from `from` to `to` at the new provider's price. The attempt count is unchanged:
 * the job did not fail. Returns false when `from` no longer holds the lease.
 */
export async function handoffLease(
  tx: Queryable,
  h: { job_id: string; from: string; to: string; lease_expires_at_ms: number; quote_price: string },
  now: number,
): Promise<boolean> {
  const rows = await tx.query<{ job_id: string }>(
    `UPDATE jobs SET worker_address = $3, lease_expires_at_ms = $4, quote_price = $5, started_at_ms = $6
     WHERE job_id = $1 AND status = 'leased' AND worker_address = $2
     RETURNING job_id`,
    [h.job_id, h.from, h.to, h.lease_expires_at_ms, h.quote_price, now],
  );
  return rows.length === 1;
}

/** Every job leased to this worker address, on any connection. */
export async function jobsLeasedTo(q: Queryable, worker: string): Promise<string[]> {
  const rows = await q.query<{ job_id: string }>(
    `SELECT job_id FROM jobs WHERE status = 'leased' AND worker_address = $1`,
    [worker],
  );
  return rows.map((r) => r.job_id);
}

/**
 * Of these jobs, the ones still leased as the caller saw them (to `worker`, and expired before
 * `expiredBefore`, when given), locked: a release decided on stale data (the lease moved to
 * another provider, or a heartbeat extended it) leaves them alone.
 */
export async function stillLeased(
  tx: Queryable,
  jobIds: readonly string[],
  only: { worker?: string | undefined; expiredBefore?: number | undefined },
): Promise<string[]> {
  if (jobIds.length === 0) return [];
  const rows = await tx.query<{ job_id: string }>(
    `SELECT job_id FROM jobs
     WHERE status = 'leased' AND job_id = ANY($1::uuid[])
       AND ($2::text IS NULL OR worker_address = $2)
       AND ($3::bigint IS NULL OR lease_expires_at_ms < $3)
     ORDER BY job_id FOR UPDATE`,
    [jobIds, only.worker ?? null, only.expiredBefore ?? null],
  );
  return rows.map((r) => r.job_id);
}
