// Task queries. Writes that change a task's status are conditional (WHERE status IN …), so a
// decision made on stale data changes nothing instead of overwriting a newer state.

import { OPEN_STATUSES, statusesLeadingTo } from '../domain/task-state.js';
import type { Priority } from '../domain/priority.js';
import type { TaskStatus } from '../domain/task-state.js';
import type { Queryable } from './db.js';

export interface TaskRow {
  task_id: string;
  seq: number;
  account_id: string;
  challenge_type: string;
  payload: Record<string, unknown>;
  /** The consumer token (CT) the escrow's CT part is held in. */
  asset: string;
  /** The industrial token the rest is held in. */
  it_asset: string;
  /** The CT percentage of the escrow (0–100). */
  fee_pct_ct: number;
  reward: string;
  escrow_held: string;
  /** The CPC (CT) part of escrow_held, as the domain split it when the reward was held. */
  escrow_ct: string;
  deadline_ms: number | null;
  status: TaskStatus;
  failure_reason: string | null;
  result_hash: string | null;
  worker_address: string | null;
  completed_at_ms: number | null;
  idempotency_key: string | null;
  request_hash: string | null;
  created_at_ms: number;
  updated_at_ms: number;
  requirements: Record<string, unknown> | null;
  units: number;
  jobs_total: number;
  jobs_done: number;
  priority: Priority;
  /** Completed with every job's result checked in full (null until completed). */
  verified: boolean | null;
}

export type NewTaskRow = Omit<
  TaskRow,
  'seq' | 'failure_reason' | 'result_hash' | 'worker_address' | 'completed_at_ms' | 'jobs_done' | 'verified'
>;

const COLUMNS = `task_id, seq, account_id, challenge_type, payload, asset, it_asset, fee_pct_ct, reward::text AS reward,
  escrow_held::text AS escrow_held, escrow_ct::text AS escrow_ct, deadline_ms, status, failure_reason, result_hash, worker_address,
  completed_at_ms, idempotency_key, request_hash, created_at_ms, updated_at_ms, requirements, units, jobs_total, jobs_done, priority, verified`;

export async function insertTasks(tx: Queryable, rows: readonly NewTaskRow[]): Promise<void> {
  if (rows.length === 0) return;
  await tx.query(
    `INSERT INTO tasks (task_id, account_id, challenge_type, payload, asset, it_asset, fee_pct_ct, reward, escrow_held,
                        escrow_ct, deadline_ms, status, idempotency_key, request_hash, created_at_ms, updated_at_ms, requirements, units,
                        jobs_total, priority)
     SELECT task_id, account_id, challenge_type, payload, asset, it_asset, fee_pct_ct, reward, escrow_held,
            escrow_ct, deadline_ms, status, idempotency_key, request_hash, created_at_ms, updated_at_ms, requirements, units,
            jobs_total, priority
     FROM jsonb_to_recordset($1::jsonb) AS x(task_id uuid, account_id uuid, challenge_type text, payload jsonb,
          asset text, it_asset text, fee_pct_ct smallint, reward numeric, escrow_held numeric, escrow_ct numeric, deadline_ms bigint, status text, idempotency_key text,
          request_hash text, created_at_ms bigint, updated_at_ms bigint, requirements jsonb, units bigint, jobs_total int,
          priority text)`,
    [JSON.stringify(rows)],
  );
}

export async function findByIdempotencyKeys(
  tx: Queryable,
  keys: readonly { account_id: string; key: string }[],
): Promise<TaskRow[]> {
  if (keys.length === 0) return [];
  return tx.query<TaskRow & Record<string, unknown>>(
    `SELECT ${COLUMNS} FROM tasks
     WHERE (account_id, idempotency_key) IN (
       SELECT account_id, key FROM jsonb_to_recordset($1::jsonb) AS x(account_id uuid, key text))`,
    [JSON.stringify(keys)],
  );
}

export async function getTask(q: Queryable, taskId: string): Promise<TaskRow | undefined> {
  const rows = await q.query<TaskRow & Record<string, unknown>>(
    `SELECT ${COLUMNS} FROM tasks WHERE task_id = $1`,
    [taskId],
  );
  return rows[0];
}

export async function getTasks(q: Queryable, taskIds: readonly string[]): Promise<TaskRow[]> {
  return q.query<TaskRow & Record<string, unknown>>(
    `SELECT ${COLUMNS} FROM tasks WHERE task_id IN (SELECT value::uuid FROM jsonb_array_elements_text($1::jsonb))`,
    [JSON.stringify(taskIds)],
  );
}

export interface TaskFilter {
  accountId?: string | undefined;
  status?: TaskStatus | undefined;
  challengeType?: string | undefined;
  limit: number;
  offset: number;
}

/** The `phase` column of a task in `status` (migration 0110): both open statuses are 'open'. */
function phaseOf(status: TaskStatus): string {
  return OPEN_STATUSES.includes(status) ? 'open' : status;
}

/** Newest first, by insertion sequence: a stable order that paging can rely on. */
export async function listTasks(q: Queryable, f: TaskFilter): Promise<{ rows: TaskRow[]; total: number }> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (f.accountId) where.push(`account_id = $${params.push(f.accountId)}`);
  if (f.status) {
    // tasks_phase_seq finds the status's phase (migration 0110), the status filters within it.
    where.push(`phase = $${params.push(phaseOf(f.status))}`);
    where.push(`status = $${params.push(f.status)}`);
  }
  if (f.challengeType) where.push(`challenge_type = $${params.push(f.challengeType)}`);
  const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
  const [count] = await q.query<{ n: number }>(`SELECT count(*)::int8 AS n FROM tasks ${clause}`, params);
  const rows = await q.query<TaskRow & Record<string, unknown>>(
    `SELECT ${COLUMNS} FROM tasks ${clause} ORDER BY seq DESC LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
    [...params, f.limit, f.offset],
  );
  return { rows, total: count?.n ?? 0 };
}

/** Closes an open task (cancelled or failed) and releases its escrow; returns the rows closed. */
export async function closeOpenTasks(
  tx: Queryable,
  taskIds: readonly string[],
  to: 'cancelled' | 'failed',
  reason: string | null,
  now: number,
): Promise<TaskRow[]> {
  if (taskIds.length === 0) return [];
  return tx.query<TaskRow & Record<string, unknown>>(
    `WITH target AS (
       SELECT task_id, escrow_held, escrow_ct FROM tasks
       WHERE task_id IN (SELECT value::uuid FROM jsonb_array_elements_text($1::jsonb))
         AND status = ANY($5::text[])
       ORDER BY task_id FOR UPDATE
     )
     UPDATE tasks t SET status = $2, failure_reason = $3, escrow_held = 0, escrow_ct = 0, updated_at_ms = $4
     FROM target WHERE t.task_id = target.task_id
     RETURNING t.task_id, t.seq, t.account_id, t.challenge_type, t.payload, t.asset, t.it_asset, t.fee_pct_ct,
       t.reward::text AS reward,
       target.escrow_held::text AS escrow_held, target.escrow_ct::text AS escrow_ct, t.deadline_ms, t.status, t.failure_reason, t.result_hash,
       t.worker_address, t.completed_at_ms, t.idempotency_key, t.request_hash, t.created_at_ms, t.updated_at_ms,
       t.requirements, t.units, t.jobs_total, t.jobs_done, t.priority`,
    [JSON.stringify(taskIds), to, reason, now, statusesLeadingTo(to)],
  );
}

export async function overdueTaskIds(q: Queryable, now: number, limit: number): Promise<string[]> {
  const rows = await q.query<{ task_id: string }>(
    `SELECT task_id FROM tasks WHERE phase = 'open' AND deadline_ms IS NOT NULL AND deadline_ms <= $1
     ORDER BY deadline_ms LIMIT $2`,
    [now, limit],
  );
  return rows.map((r) => r.task_id);
}

/** The earliest deadline of an open task (null: none has one), one probe of tasks_open_deadline. */
export async function nextOpenDeadline(q: Queryable): Promise<number | null> {
  const [row] = await q.query<{ ms: number | null }>(
    `SELECT min(deadline_ms) AS ms FROM tasks WHERE phase = 'open' AND deadline_ms IS NOT NULL`,
  );
  return row?.ms ?? null;
}

export async function countTasksByStatus(q: Queryable): Promise<Map<string, number>> {
  const rows = await q.query<{ status: string; n: number }>(
    `SELECT status, count(*)::int8 AS n FROM tasks GROUP BY status`,
  );
  return new Map(rows.map((r) => [r.status, r.n]));
}

/**
 * What open tasks hold in escrow, a row per task and asset: the CT part (escrow_ct, as
 * src/domain/escrow-split.ts split it) in `asset`, the rest in `it_asset`.
 */
export const TASK_HOLDS = `(
  SELECT account_id, asset, escrow_ct AS held FROM tasks WHERE escrow_held > 0
  UNION ALL
  SELECT account_id, it_asset, escrow_held - escrow_ct FROM tasks WHERE escrow_held > 0)`;

/** What one customer's open tasks hold in escrow, per asset. */
export async function escrowHeldBy(q: Queryable, accountId: string): Promise<Map<string, bigint>> {
  const rows = await q.query<{ asset: string; held: string }>(
    `SELECT asset, sum(held)::text AS held FROM ${TASK_HOLDS} h WHERE account_id = $1 GROUP BY asset`,
    [accountId],
  );
  return new Map(rows.map((r) => [r.asset, BigInt(r.held)]));
}

/**
 * Completes tasks whose jobs are all done, with their Merkle result and worker, and releases
 * their escrow in the same row update: returns each task completed with what its escrow held,
 * which settlement, in the same transaction, charges and refunds.
 */
export async function completeTasks(
  tx: Queryable,
  done: readonly { task_id: string; result_hash: string; worker_address: string; verified: boolean }[],
  now: number,
): Promise<{ task_id: string; escrow_held: string }[]> {
  if (done.length === 0) return [];
  return tx.query<{ task_id: string; escrow_held: string }>(
    `WITH target AS (
       SELECT task_id, escrow_held FROM tasks
       WHERE task_id IN (SELECT (value->>'task_id')::uuid FROM jsonb_array_elements($1::jsonb))
         AND status = ANY($3::text[])
       ORDER BY task_id FOR UPDATE
     )
     UPDATE tasks t SET status = 'completed', result_hash = x.result_hash, worker_address = x.worker_address,
            completed_at_ms = $2, updated_at_ms = $2, escrow_held = 0, escrow_ct = 0, verified = x.verified
     FROM jsonb_to_recordset($1::jsonb) AS x(task_id uuid, result_hash text, worker_address text, verified boolean), target
     WHERE t.task_id = x.task_id AND target.task_id = t.task_id
     RETURNING t.task_id, target.escrow_held::text AS escrow_held`,
    [JSON.stringify(done), now, statusesLeadingTo('completed')],
  );
}
