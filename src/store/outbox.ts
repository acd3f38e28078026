// Outbox queries: queueing drafts, sealing them at the market's next nonces, paging through the
// pending ones in nonce order, and recording what the chain answered.

import type { OutboxDraft, OutboxKind, OutboxStatus } from '../domain/courier.js';
import type { Queryable } from './db.js';

export interface OutboxRow {
  id: number;
  kind: OutboxKind;
  dedup_key: string;
  draft: OutboxDraft;
  /** The four below are null until the courier seals the draft. */
  sender: string | null;
  nonce: number | null;
  body: string | null;
  tx_hash: string | null;
  status: OutboxStatus;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  height: number | null;
  created_at: number;
  acknowledged_at: number | null;
}

export type NewOutboxRow = Pick<OutboxRow, 'kind' | 'dedup_key' | 'draft'>;
export type SealedOutboxRow = OutboxRow & { sender: string; nonce: number; body: string; tx_hash: string };

const COLUMNS = `id, kind, dedup_key, draft, sender, nonce, body, tx_hash, status, attempts, next_attempt_at, last_error,
  height, created_at, acknowledged_at`;

/** Locks the sender's nonce row (created at 0 on first use) until the transaction ends; its next nonce. */
export async function lockNextNonce(tx: Queryable, sender: string): Promise<number> {
  const [row] = await tx.query<{ next_nonce: number }>(
    `INSERT INTO chain_nonces (sender, next_nonce) VALUES ($1, 0)
     ON CONFLICT (sender) DO UPDATE SET next_nonce = chain_nonces.next_nonce
     RETURNING next_nonce`,
    [sender],
  );
  return Number(row?.next_nonce ?? 0);
}

export async function setNextNonce(tx: Queryable, sender: string, next: number): Promise<void> {
  await tx.query('UPDATE chain_nonces SET next_nonce = $2 WHERE sender = $1', [sender, next]);
}

/** Queues drafts; a dedup key already there is left alone. Returns how many were new. */
export async function insertDrafts(
  tx: Queryable,
  rows: readonly NewOutboxRow[],
  now: number,
): Promise<number> {
  if (rows.length === 0) return 0;
  const inserted = await tx.query(
    `INSERT INTO outbox (kind, dedup_key, draft, next_attempt_at, created_at)
     SELECT x.value->>'kind', x.value->>'dedup_key', x.value->'draft', $2, $2
     FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(value, ord)
     ORDER BY x.ord
     ON CONFLICT (dedup_key) DO NOTHING
     RETURNING id`,
    [JSON.stringify(rows), now],
  );
  return inserted.length;
}

/** Up to `limit` drafts without a nonce, in queue order, locked. */
export async function unsealedPage(
  tx: Queryable,
  limit: number,
): Promise<{ id: number; draft: OutboxDraft }[]> {
  const rows = await tx.query<{ id: number; draft: OutboxDraft }>(
    `SELECT id, draft FROM outbox WHERE nonce IS NULL AND status = 'pending' ORDER BY id LIMIT $1 FOR UPDATE`,
    [limit],
  );
  return rows.map((r) => ({ id: Number(r.id), draft: r.draft }));
}

export async function sealRows(
  tx: Queryable,
  rows: readonly { id: number; sender: string; nonce: number; body: string; tx_hash: string }[],
): Promise<number> {
  if (rows.length === 0) return 0;
  const updated = await tx.query(
    `UPDATE outbox o SET sender = x.sender, nonce = x.nonce, body = x.body, tx_hash = x.tx_hash
     FROM jsonb_to_recordset($1::jsonb) AS x(id bigint, sender text, nonce bigint, body text, tx_hash text)
     WHERE o.id = x.id AND o.nonce IS NULL
     RETURNING o.id`,
    [JSON.stringify(rows)],
  );
  return updated.length;
}

/** Up to `limit` sealed pending rows after (sender, nonce), in nonce order: one page of a flush. */
export async function pendingPage(
  q: Queryable,
  after: { sender: string; nonce: number } | undefined,
  limit: number,
): Promise<SealedOutboxRow[]> {
  const rows = await q.query<OutboxRow & Record<string, unknown>>(
    `SELECT ${COLUMNS} FROM outbox
     WHERE status = 'pending' AND nonce IS NOT NULL AND (sender, nonce) > ($1, $2)
     ORDER BY sender, nonce LIMIT $3`,
    [after?.sender ?? '', after?.nonce ?? -1, limit],
  );
  return rows.map(numbers) as SealedOutboxRow[];
}

export async function getOutboxByKey(q: Queryable, dedupKey: string): Promise<OutboxRow | undefined> {
  const rows = await q.query<OutboxRow & Record<string, unknown>>(
    `SELECT ${COLUMNS} FROM outbox WHERE dedup_key = $1`,
    [dedupKey],
  );
  return rows[0] && numbers(rows[0]);
}

// The chain's answers below apply to the seal that was sent (tx_hash): an entry whose nonce was
// taken back and given again (outbox-failure.ts) since is a different transaction now, and a late
// answer about its old bytes (another node's courier, still on a page read before) changes nothing.

export async function markAcknowledged(
  q: Queryable,
  acks: readonly { id: number; tx_hash: string; height: number | null }[],
  now: number,
): Promise<void> {
  if (acks.length === 0) return;
  await q.query(
    `UPDATE outbox o SET status = 'acknowledged', acknowledged_at = $2, height = x.height, last_error = NULL
     FROM jsonb_to_recordset($1::jsonb) AS x(id bigint, tx_hash text, height bigint)
     WHERE o.id = x.id AND o.status = 'pending' AND o.tx_hash = x.tx_hash`,
    [JSON.stringify(acks), now],
  );
}

export async function markRetry(
  q: Queryable,
  id: number,
  txHash: string,
  attempts: number,
  nextAttemptAt: number,
  error: string,
): Promise<void> {
  await q.query(
    `UPDATE outbox SET attempts = $3, next_attempt_at = $4, last_error = $5
     WHERE id = $1 AND status = 'pending' AND tx_hash = $2`,
    [id, txHash, attempts, nextAttemptAt, error],
  );
}

/**
 * Marks a pending entry failed: a draft (`txHash` null) or the seal that was sent. With `unseal`
 * it gives up its seal too, so its nonce can be given again (the unique (sender, nonce) allows
 * one entry per nonce); the caller keeps the nonce in `error`. Returns 1, or 0 if the entry was
 * no longer pending under that seal.
 */
export async function markFailed(
  q: Queryable,
  id: number,
  txHash: string | null,
  attempts: number,
  error: string,
  unseal = false,
): Promise<number> {
  const updated = await q.query(
    `UPDATE outbox SET status = 'failed', attempts = $3, last_error = $4,
       sender = CASE WHEN $5::boolean THEN NULL ELSE sender END,
       nonce = CASE WHEN $5::boolean THEN NULL ELSE nonce END,
       body = CASE WHEN $5::boolean THEN NULL ELSE body END,
       tx_hash = CASE WHEN $5::boolean THEN NULL ELSE tx_hash END
     WHERE id = $1 AND status = 'pending' AND tx_hash IS NOT DISTINCT FROM $2
     RETURNING id`,
    [id, txHash, attempts, error, unseal],
  );
  return updated.length;
}

/**
 * Every entry of `sender` above `nonce`, whatever its status, locked until the transaction ends,
 * in nonce order: what a refusal at `nonce` would have to take back.
 */
export async function lockEntriesAfter(
  tx: Queryable,
  sender: string,
  nonce: number,
): Promise<{ id: number; status: OutboxStatus; attempts: number }[]> {
  const rows = await tx.query<{ id: number; status: OutboxStatus; attempts: number }>(
    `SELECT id, status, attempts FROM outbox WHERE sender = $1 AND nonce > $2 ORDER BY nonce FOR UPDATE`,
    [sender, nonce],
  );
  return rows.map((r) => ({ ...r, id: Number(r.id) }));
}

/**
 * Takes the seal (sender, nonce, body, tx_hash) back from `sender`'s pending entries above
 * `nonce` that were never sent: they are drafts again, for the next seal. Returns how many.
 */
export async function unsealEntriesAfter(tx: Queryable, sender: string, nonce: number): Promise<number> {
  const updated = await tx.query(
    `UPDATE outbox SET sender = NULL, nonce = NULL, body = NULL, tx_hash = NULL
     WHERE sender = $1 AND nonce > $2 AND status = 'pending' AND attempts = 0
     RETURNING id`,
    [sender, nonce],
  );
  return updated.length;
}

export async function countOutboxByStatus(q: Queryable): Promise<Record<OutboxStatus, number>> {
  const rows = await q.query<{ status: OutboxStatus; n: number }>(
    'SELECT status, count(*)::int AS n FROM outbox GROUP BY status',
  );
  const counts = { pending: 0, acknowledged: 0, failed: 0 };
  for (const r of rows) counts[r.status] = r.n;
  return counts;
}

function numbers(r: OutboxRow): OutboxRow {
  return {
    ...r,
    id: Number(r.id),
    nonce: r.nonce === null ? null : Number(r.nonce),
    next_attempt_at: Number(r.next_attempt_at),
    created_at: Number(r.created_at),
    height: r.height === null ? null : Number(r.height),
    acknowledged_at: r.acknowledged_at === null ? null : Number(r.acknowledged_at),
  };
}
