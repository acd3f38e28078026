// What following a task reads besides the task itself: the ids of its jobs, to recognise the
// job events (progress, leases, results) that belong to it.

import type { Queryable } from './db.js';

export async function jobIdsOfTask(q: Queryable, taskId: string): Promise<string[]> {
  const rows = await q.query<{ job_id: string }>('SELECT job_id FROM jobs WHERE task_id = $1 ORDER BY idx', [
    taskId,
  ]);
  return rows.map((r) => r.job_id);
}
