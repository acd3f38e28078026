// Webhook queries: the URL a task names, the ended tasks nobody was told about (by their ids, and
// the backstop sweep over the webhooks due for a look),
// and the delivery queue, one statement per transition (queue, claim, delivered, retry, failed).

import type { Queryable } from './db.js';

export interface NewTaskWebhook {
  task_id: string;
  url: string;
  secret: string;
  /** When the sweep first looks at it, ms (the task's end queues its delivery before that). */
  check_ms: number;
}

export interface DeliveryRow {
  delivery_id: string;
  task_id: string;
  event: string;
  url: string;
  body: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  next_attempt_ms: number;
  last_error: string | null;
  created_ms: number;
  finished_ms: number | null;
  /** The task's signing secret (joined in when claiming). */
  secret: string;
}

export async function insertTaskWebhooks(tx: Queryable, rows: readonly NewTaskWebhook[]): Promise<void> {
  if (rows.length === 0) return;
  await tx.query(
    `INSERT INTO task_webhooks (task_id, url, secret, check_ms)
     SELECT task_id, url, secret, check_ms
     FROM jsonb_to_recordset($1::jsonb) AS x(task_id uuid, url text, secret text, check_ms bigint)`,
    [JSON.stringify(rows)],
  );
}

const ENDED = `('completed', 'failed', 'cancelled')`;

/** Of these tasks, the ended ones whose webhook was not told yet (one read by primary key). */
export async function unnotifiedEndedAmong(q: Queryable, taskIds: readonly string[]): Promise<string[]> {
  if (taskIds.length === 0) return [];
  const rows = await q.query<{ task_id: string }>(
    `SELECT w.task_id FROM task_webhooks w JOIN tasks t USING (task_id)
     WHERE w.task_id = ANY($1::uuid[]) AND w.notified_status IS NULL AND t.status IN ${ENDED}`,
    [taskIds],
  );
  return rows.map((r) => r.task_id);
}

/**
 * When the webhook loop next has work: the earliest look due among the webhooks not told yet
 * (null when none waits, so no ended task can need a delivery) and the earliest pending delivery.
 * Two probes of the partial indexes task_webhooks_due and webhook_deliveries_due.
 */
export async function webhookDueTimes(
  q: Queryable,
): Promise<{ look_ms: number | null; send_ms: number | null }> {
  const [row] = await q.query<{ look_ms: number | null; send_ms: number | null }>(
    `SELECT (SELECT min(check_ms) FROM task_webhooks WHERE notified_status IS NULL) AS look_ms,
            (SELECT min(next_attempt_ms) FROM webhook_deliveries WHERE status = 'pending') AS send_ms`,
  );
  return { look_ms: row?.look_ms ?? null, send_ms: row?.send_ms ?? null };
}

/**
 * The sweep's look at up to `limit` webhooks due for one (not told yet, `check_ms` up to
 * `dueMs`), oldest first: each moves to `nextMs`, and those whose task ended are returned. Only
 * the due rows are read, by the task_webhooks_due index.
 */
export async function sweepDueWebhooks(
  q: Queryable,
  dueMs: number,
  nextMs: number,
  limit: number,
): Promise<{ looked: number; ended: string[] }> {
  const rows = await q.query<{ task_id: string; ended: boolean }>(
    `WITH due AS (
       SELECT task_id FROM task_webhooks
       WHERE notified_status IS NULL AND check_ms <= $1
       ORDER BY check_ms LIMIT $3 FOR UPDATE SKIP LOCKED)
     UPDATE task_webhooks w SET check_ms = $2
     FROM due, tasks t
     WHERE w.task_id = due.task_id AND t.task_id = w.task_id
     RETURNING w.task_id, t.status IN ${ENDED} AS ended`,
    [dueMs, nextMs, limit],
  );
  return { looked: rows.length, ended: rows.filter((r) => r.ended).map((r) => r.task_id) };
}

/**
 * Marks the task's webhook as told about `status`; false when another node (or an earlier sweep)
 * already did, so the caller queues nothing. Run in the transaction that queues the delivery.
 */
export async function markNotified(
  tx: Queryable,
  taskId: string,
  status: string,
): Promise<string | undefined> {
  const rows = await tx.query<{ url: string }>(
    `UPDATE task_webhooks SET notified_status = $2 WHERE task_id = $1 AND notified_status IS NULL RETURNING url`,
    [taskId, status],
  );
  return rows[0]?.url;
}

/**
 * An audit corrected these completed tasks' results: their webhooks are told again (a new
 * delivery with the corrected task), at the next round.
 */
export async function renotify(tx: Queryable, taskIds: readonly string[]): Promise<void> {
  if (taskIds.length === 0) return;
  await tx.query(
    `UPDATE task_webhooks SET notified_status = NULL, check_ms = 0
     WHERE task_id = ANY($1::uuid[]) AND notified_status IS NOT NULL`,
    [[...taskIds]],
  );
}

export async function insertDelivery(
  tx: Queryable,
  d: { delivery_id: string; task_id: string; event: string; url: string; body: string; now_ms: number },
): Promise<void> {
  await tx.query(
    `INSERT INTO webhook_deliveries (delivery_id, task_id, event, url, body, next_attempt_ms, created_ms)
     VALUES ($1, $2, $3, $4, $5, $6, $6)`,
    [d.delivery_id, d.task_id, d.event, d.url, d.body, d.now_ms],
  );
}

/**
 * Takes up to `limit` due deliveries for one attempt each: their next attempt moves `claimMs`
 * ahead, so another node (or this one after a crash) tries them again only once that passes.
 */
export async function claimDueDeliveries(
  q: Queryable,
  nowMs: number,
  claimMs: number,
  limit: number,
): Promise<DeliveryRow[]> {
  return q.query<DeliveryRow & Record<string, unknown>>(
    `WITH due AS (
       SELECT delivery_id FROM webhook_deliveries
       WHERE status = 'pending' AND next_attempt_ms <= $1
       ORDER BY next_attempt_ms LIMIT $3 FOR UPDATE SKIP LOCKED)
     UPDATE webhook_deliveries d SET attempts = d.attempts + 1, next_attempt_ms = $1 + $2
     FROM due, task_webhooks w
     WHERE d.delivery_id = due.delivery_id AND w.task_id = d.task_id
     RETURNING d.delivery_id, d.task_id, d.event, d.url, d.body, d.status, d.attempts, d.next_attempt_ms,
               d.last_error, d.created_ms, d.finished_ms, w.secret`,
    [nowMs, claimMs, limit],
  );
}

export async function markDelivered(q: Queryable, deliveryId: string, nowMs: number): Promise<void> {
  await q.query(
    `UPDATE webhook_deliveries SET status = 'delivered', finished_ms = $2, last_error = NULL
     WHERE delivery_id = $1 AND status = 'pending'`,
    [deliveryId, nowMs],
  );
}

/** A failed attempt: tried again at `nextMs`, or given up (failed) when `nextMs` is null. */
export async function markAttemptFailed(
  q: Queryable,
  deliveryId: string,
  error: string,
  nextMs: number | null,
  nowMs: number,
): Promise<void> {
  await q.query(
    nextMs === null
      ? `UPDATE webhook_deliveries SET status = 'failed', finished_ms = $3, last_error = $2
         WHERE delivery_id = $1 AND status = 'pending'`
      : `UPDATE webhook_deliveries SET next_attempt_ms = $3, last_error = $2
         WHERE delivery_id = $1 AND status = 'pending'`,
    [deliveryId, error.slice(0, 500), nextMs ?? nowMs],
  );
}

export async function deliveriesOfTask(q: Queryable, taskId: string): Promise<Omit<DeliveryRow, 'secret'>[]> {
  return q.query<Omit<DeliveryRow, 'secret'> & Record<string, unknown>>(
    `SELECT delivery_id, task_id, event, url, body, status, attempts, next_attempt_ms, last_error, created_ms, finished_ms
     FROM webhook_deliveries WHERE task_id = $1 ORDER BY created_ms`,
    [taskId],
  );
}
