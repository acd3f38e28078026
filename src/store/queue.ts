// The queue as the scheduler keeps it in memory: what matching needs of each queued job (no
// payload, no slices), read per lane from the store when the node starts and topped up from it
// now and then (jobs another node queued or put back). The full rows of the jobs just leased,
// which the dispatcher sends, come back from the lease statement itself (store/jobs.ts leaseJobs).

import type { Priority } from '../domain/priority.js';
import type { Queryable } from './db.js';

/** A queued job as matching needs it. */
export interface QueueEntry {
  job_id: string;
  task_id: string;
  challenge_type: string;
  units: number;
  priority: Priority;
  /** When it first became runnable, ms. */
  queued_at_ms: number;
  requirements: Record<string, unknown> | null;
  /** The task's reward and units: the job's budget is its share. */
  reward: string;
  task_units: number;
  /** Inference only: the model it asks for. */
  model_id: string | null;
  /** The task's deadline, Unix ms. */
  deadline_ms: number | null;
  /** The task's CT percentage: only offers with the same fee_pct_ct take the job. */
  fee_pct_ct: number;
  /** Providers that may not lease it (a replica's checked providers, invalid-payload claimants). */
  excluded: string[];
  /** A replica's runner id: only a provider with the same runner for the type takes it. */
  runner_id: string | null;
}

const ENTRY = `j.job_id, j.task_id, j.challenge_type, j.units, j.priority, j.queued_at_ms, t.requirements,
  t.reward::text AS reward, t.units AS task_units, t.payload->>'model_id' AS model_id, t.deadline_ms, t.fee_pct_ct,
  j.excluded, j.runner_id`;

/**
 * The head of the queue for some challenge types, in priority-then-arrival order. Each type is
 * read from its own index range (jobs_queued_by_type) and the heads merged, so a long backlog of
 * other types is never scanned.
 */
export async function queueHeads(
  q: Queryable,
  types: readonly string[],
  limit: number,
): Promise<QueueEntry[]> {
  if (types.length === 0 || limit <= 0) return [];
  const heads = types.map(
    (_, i) =>
      `(SELECT job_id, sort_key_ms, seq FROM jobs WHERE status = 'queued' AND challenge_type = $${i + 2}
        ORDER BY sort_key_ms, seq LIMIT $1)`,
  );
  return q.query<QueueEntry & Record<string, unknown>>(
    `SELECT ${ENTRY}
     FROM (${heads.join(' UNION ALL ')}) h
     JOIN jobs j USING (job_id) JOIN tasks t ON t.task_id = j.task_id
     ORDER BY h.sort_key_ms, h.seq LIMIT $1`,
    [limit, ...types],
  );
}

/** Queue entries of these jobs if they are queued (jobs just put back). */
export async function queueEntries(q: Queryable, jobIds: readonly string[]): Promise<QueueEntry[]> {
  if (jobIds.length === 0) return [];
  return q.query<QueueEntry & Record<string, unknown>>(
    `SELECT ${ENTRY} FROM jobs j JOIN tasks t USING (task_id)
     WHERE j.status = 'queued' AND j.job_id IN (SELECT value::uuid FROM jsonb_array_elements_text($1::jsonb))
     ORDER BY j.sort_key_ms, j.seq`,
    [JSON.stringify(jobIds)],
  );
}
