// The head of the queue for some challenge types (one lane), in priority-then-arrival order.
// Each type is read from its own index range and the heads merged, so a long backlog of other
// types is never scanned.

import type { Queryable } from './db.js';
import type { QueuedJob } from './jobs.js';

export async function queuedJobsOfTypes(
  q: Queryable,
  types: readonly string[],
  limit: number,
): Promise<QueuedJob[]> {
  if (types.length === 0 || limit <= 0) return [];
  const heads = types.map(
    (_, i) =>
      `(SELECT job_id, sort_key, seq FROM jobs WHERE status = 'queued' AND challenge_type = $${i + 2}
        ORDER BY sort_key, seq LIMIT $1)`,
  );
  return q.query<QueuedJob & Record<string, unknown>>(
    `SELECT j.job_id, j.task_id, j.seq, j.challenge_type, j.units, j.slices, t.payload, t.requirements,
            t.reward::text AS reward, t.units AS task_units, j.queued_at, j.priority
     FROM (${heads.join(' UNION ALL ')}) h
     JOIN jobs j USING (job_id) JOIN tasks t ON t.task_id = j.task_id
     ORDER BY h.sort_key, h.seq LIMIT $1`,
    [limit, ...types],
  );
}
