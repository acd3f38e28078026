// Verification rows: replicas (jobs that re-run a primary on another provider), each primary's
// verification state and verifiers, what providers have shown (verified results, fraud), failure
// claims and the verification counters. Every change is conditional on the state it expects.

import type { VerificationStatus } from '../domain/verification.js';
import type { Queryable } from './db.js';

export interface NewReplica {
  job_id: string;
  /** The primary job it re-runs. */
  verifies: string;
  /** Providers that may not run it: every one that delivered a result for the primary. */
  excluded: readonly string[];
  /** The runner id a provider must advertise for the type (null: any). */
  runner_id: string | null;
}

/** Queues replicas of primaries: same task, index, slices, units and place in the queue. */
export async function insertReplicas(tx: Queryable, rows: readonly NewReplica[], now: number): Promise<void> {
  if (rows.length === 0) return;
  await tx.query(
    `INSERT INTO jobs (job_id, task_id, idx, challenge_type, slices, units, status, queued_at_ms, priority, sort_key_ms,
                       verifies, excluded, runner_id)
     SELECT x.job_id, p.task_id, p.idx, p.challenge_type, p.slices, p.units, 'queued', $2, p.priority, p.sort_key_ms,
            p.job_id, x.excluded, x.runner_id
     FROM jsonb_to_recordset($1::jsonb) AS x(job_id uuid, verifies uuid, excluded text[], runner_id text)
     JOIN jobs p ON p.job_id = x.verifies`,
    [JSON.stringify(rows), now],
  );
}

/** Sets primaries' verification state (and verifiers, when given). */
export async function setVerification(
  tx: Queryable,
  rows: readonly { job_id: string; verification: VerificationStatus; verifiers?: readonly string[] }[],
): Promise<void> {
  if (rows.length === 0) return;
  await tx.query(
    `UPDATE jobs j SET verification = x.verification, verifiers = coalesce(x.verifiers, j.verifiers)
     FROM jsonb_to_recordset($1::jsonb) AS x(job_id uuid, verification text, verifiers text[])
     WHERE j.job_id = x.job_id`,
    [JSON.stringify(rows)],
  );
}

/** A result delivered for a primary job: the primary's own or a completed replica's. */
export interface DeliveredRow {
  primary_id: string;
  job_id: string;
  address: string;
  result_hash: string;
  verification: VerificationStatus | null;
  runner_id: string | null;
  started_at_ms: number | null;
  finished_at_ms: number | null;
}

/** Every result delivered for these primaries, each primary's first (its own), then by arrival. */
export async function deliveredResults(
  tx: Queryable,
  primaryIds: readonly string[],
): Promise<DeliveredRow[]> {
  if (primaryIds.length === 0) return [];
  return tx.query<DeliveredRow & Record<string, unknown>>(
    `SELECT coalesce(j.verifies, j.job_id) AS primary_id, j.job_id, coalesce(j.first_result->>'worker', j.worker_address) AS address,
            coalesce(j.first_result->>'result_hash', j.result_hash) AS result_hash, j.verification, j.runner_id,
            j.started_at_ms, j.finished_at_ms
     FROM jobs j
     WHERE (j.job_id = ANY($1::uuid[]) OR j.verifies = ANY($1::uuid[])) AND j.status = 'completed'
     ORDER BY coalesce(j.verifies, j.job_id), j.verifies IS NOT NULL, j.finished_at_ms, j.job_id`,
    [[...primaryIds]],
  );
}

/**
 * A dispute went against the primary's provider: the accepted result (a replica's) becomes the
 * primary's, and the primary keeps the first result it was given.
 */
export async function acceptReplicaResult(
  tx: Queryable,
  primaryId: string,
  replicaId: string,
): Promise<void> {
  await tx.query(
    `UPDATE jobs p SET first_result = coalesce(p.first_result,
                         jsonb_build_object('worker', p.worker_address, 'result_hash', p.result_hash)),
            worker_address = r.worker_address, result_hash = r.result_hash, proof = r.proof, output = r.output
     FROM jobs r WHERE p.job_id = $1 AND r.job_id = $2`,
    [primaryId, replicaId],
  );
}

/** Open replicas of these primaries (queued or leased), to cancel once a verdict is in. */
export async function cancelReplicasOf(
  tx: Queryable,
  primaryIds: readonly string[],
  now: number,
): Promise<{ job_id: string; worker_address: string | null }[]> {
  if (primaryIds.length === 0) return [];
  return tx.query(
    `UPDATE jobs j SET status = 'cancelled', finished_at_ms = $2, lease_expires_at_ms = NULL
     FROM (SELECT job_id, worker_address FROM jobs WHERE verifies = ANY($1::uuid[]) AND status IN ('queued', 'leased')
           FOR UPDATE) old
     WHERE j.job_id = old.job_id
     RETURNING j.job_id, old.worker_address`,
    [[...primaryIds], now],
  );
}

/** Marks providers as caught cheating; returns those newly marked. */
export async function markFraud(
  tx: Queryable,
  rows: readonly { address: string; reason: string }[],
  nowMs: number,
): Promise<string[]> {
  if (rows.length === 0) return [];
  const marked = await tx.query<{ address: string }>(
    `UPDATE providers p SET fraud_at_ms = $2, fraud_reason = x.reason
     FROM jsonb_to_recordset($1::jsonb) AS x(address text, reason text)
     WHERE p.address = x.address AND p.fraud_at_ms IS NULL
     RETURNING p.address`,
    [JSON.stringify(rows), nowMs],
  );
  return marked.map((r) => r.address);
}

/**
 * Results a provider delivered that nobody checked (sampled_out), in tasks still open or completed
 * since `completedSinceMs` (the dispute window): they are audited once it is caught.
 */
export async function uncheckedResultsOf(
  tx: Queryable,
  address: string,
  completedSinceMs: number,
): Promise<{ job_id: string; challenge_type: string }[]> {
  return tx.query(
    `SELECT j.job_id, j.challenge_type FROM jobs j JOIN tasks t USING (task_id)
     WHERE j.worker_address = $1 AND j.verifies IS NULL AND j.status = 'completed'
       AND j.verification = 'sampled_out'
       AND (t.status IN ('pending', 'in_progress') OR (t.status = 'completed' AND t.completed_at_ms >= $2))`,
    [address, completedSinceMs],
  );
}

/** Adds a provider's invalid_payload claim to a job; returns the job's claims and task. */
export async function addFailureClaim(
  tx: Queryable,
  jobId: string,
  address: string,
): Promise<{ claims: string[]; task_id: string } | undefined> {
  const [row] = await tx.query<{ claims: string[]; task_id: string }>(
    `UPDATE jobs SET failure_claims = array_append(failure_claims, $2), excluded = array_append(excluded, $2)
     WHERE job_id = $1 AND NOT ($2 = ANY(failure_claims))
     RETURNING failure_claims AS claims, task_id`,
    [jobId, address],
  );
  return row;
}

/** Rests challenge types of a provider on probation until the given times (ms). */
export async function setCooldowns(
  tx: Queryable,
  address: string,
  cooldowns: Readonly<Record<string, number>>,
): Promise<void> {
  await tx.query(`UPDATE providers SET cooldowns = $2::jsonb WHERE address = $1`, [
    address,
    JSON.stringify(cooldowns),
  ]);
}

/** What the market has seen of a provider's work: the basis of probation and its offer's limits. */
export interface ProviderTrustRow {
  address: string;
  verified_jobs: number;
  verified_units: number;
  verified_ms: number;
  last_verified_at_ms: number | null;
  fraud_at_ms: number | null;
  fraud_reason: string | null;
  contradicted_claims: number;
  cooldowns: Record<string, number>;
}

export async function providerTrust(q: Queryable, address: string): Promise<ProviderTrustRow | undefined> {
  const [row] = await q.query<ProviderTrustRow & Record<string, unknown>>(
    `SELECT address, verified_jobs::int8 AS verified_jobs, verified_units::int8 AS verified_units,
            verified_ms::int8 AS verified_ms, last_verified_at_ms, fraud_at_ms, fraud_reason, contradicted_claims, cooldowns
     FROM providers WHERE address = $1`,
    [address],
  );
  return row;
}

/** Fails a primary whose results never agreed; returns it with its task if it was completed. */
export async function failUnverified(
  tx: Queryable,
  jobIds: readonly string[],
  reason: string,
  now: number,
): Promise<{ job_id: string; task_id: string }[]> {
  if (jobIds.length === 0) return [];
  return tx.query(
    `UPDATE jobs SET status = 'failed', failure_reason = $2, finished_at_ms = $3
     WHERE job_id = ANY($1::uuid[]) AND status = 'completed' AND verifies IS NULL
     RETURNING job_id, task_id`,
    [[...jobIds], reason, now],
  );
}

/** A provider's CPC balance on its market account (0 without one): its stake. */
export async function providerBalance(q: Queryable, address: string): Promise<bigint> {
  const [row] = await q.query<{ amount: string }>(
    `SELECT b.amount::text AS amount FROM accounts a JOIN balances b ON b.account_id = a.account_id
     WHERE a.address = $1 AND b.asset = 'CPC'`,
    [address],
  );
  return BigInt(row?.amount ?? '0');
}

/** What judging a replica needs of the task job it checks. */
export interface PrimaryRow {
  job_id: string;
  task_id: string;
  units: number;
  failure_claims: string[];
  verification: VerificationStatus | null;
  /** Its task's status: a completed task's job is being audited after settlement. */
  task_status: string;
}

/** The task jobs these replicas check, locked: two replicas' verdicts on one job never race. */
export async function primaryInfo(tx: Queryable, ids: readonly string[]): Promise<Map<string, PrimaryRow>> {
  if (ids.length === 0) return new Map();
  const rows = await tx.query<PrimaryRow & Record<string, unknown>>(
    `SELECT j.job_id, j.task_id, j.units, j.failure_claims, j.verification, t.status AS task_status
     FROM jobs j JOIN tasks t USING (task_id) WHERE j.job_id = ANY($1::uuid[]) FOR UPDATE OF j`,
    [[...ids]],
  );
  return new Map(rows.map((r) => [r.job_id, r]));
}

/**
 * Providers by trust standing: caught cheating (and of those, by a canary), on probation (fewer
 * verified results than asked), past it.
 */
export async function providerStanding(
  q: Queryable,
  probationJobs: number,
): Promise<{ fraud: number; canary_caught: number; probation: number; trusted: number }> {
  const [row] = await q.query<{ fraud: number; canary_caught: number; probation: number; trusted: number }>(
    `SELECT count(*) FILTER (WHERE fraud_at_ms IS NOT NULL)::int8 AS fraud,
            count(*) FILTER (WHERE fraud_reason LIKE 'canary%')::int8 AS canary_caught,
            count(*) FILTER (WHERE fraud_at_ms IS NULL AND verified_jobs < $1)::int8 AS probation,
            count(*) FILTER (WHERE fraud_at_ms IS NULL AND verified_jobs >= $1)::int8 AS trusted
     FROM providers`,
    [probationJobs],
  );
  return row ?? { fraud: 0, canary_caught: 0, probation: 0, trusted: 0 };
}

/** Task jobs by verification status, and canary slices that passed, since the database began. */
export async function verificationCounts(
  q: Queryable,
): Promise<{ verification: Record<string, number>; canaryPassed: number }> {
  const rows = await q.query<{ verification: string | null; n: number; canary: number }>(
    `SELECT verification, count(*)::int8 AS n, count(*) FILTER (WHERE canary = 'pass')::int8 AS canary
     FROM jobs WHERE verifies IS NULL AND verification IS NOT NULL GROUP BY verification`,
  );
  const verification: Record<string, number> = {};
  let canaryPassed = 0;
  for (const r of rows) {
    verification[r.verification as string] = r.n;
    canaryPassed += r.canary;
  }
  return { verification, canaryPassed };
}
