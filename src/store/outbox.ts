// Outbox queries: queueing drafts, sealing them at the market's next nonces, paging through the
// pending ones in nonce order, recording what the chain answered, and what the blocks show
// (included, final), with the scan cursor over the chain's blocks.

import {
  OUTBOX_STATUSES,
  type CheckReason,
  type OutboxDraft,
  type OutboxKind,
  type OutboxStatus,
} from '../domain/courier.js';
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
  next_attempt_at_ms: number;
  last_error: string | null;
  /** The block holding it, once seen (included, final). */
  height: number | null;
  block_hash: string | null;
  created_at_ms: number;
  /** When the node's pool last took it. */
  sent_at_ms: number | null;
  /** Written before the first send: set means the node may have it, whatever was recorded. */
  first_sent_at_ms: number | null;
  /** The next block the scan was to read when it was first sent: no lower block holds it. */
  sent_height: number | null;
  check_reason: CheckReason | null;
  final_at_ms: number | null;
}

export type NewOutboxRow = Pick<OutboxRow, 'kind' | 'dedup_key' | 'draft'>;
/**
 * A sealed entry as the courier pages read it: the signed body, and the draft only of a TRANSFER
 * (a failed payout is given back from it); a SUBMIT_RESULT's draft (up to 256 tasks) is not read.
 */
export type SealedOutboxRow = Omit<OutboxRow, 'draft'> & {
  draft: OutboxDraft | null;
  sender: string;
  nonce: number;
  body: string;
  tx_hash: string;
};

const COLUMNS = `id, kind, dedup_key, draft, sender, nonce, body, tx_hash, status, attempts, next_attempt_at_ms, last_error,
  height, block_hash, created_at_ms, sent_at_ms, first_sent_at_ms, sent_height, check_reason, final_at_ms`;

/** COLUMNS as SealedOutboxRow has them: a SUBMIT_RESULT's draft stays in the table. */
const SEALED_COLUMNS = COLUMNS.replace('draft,', "CASE WHEN kind = 'TRANSFER' THEN draft END AS draft,");

/** The stored bytes of what SEALED_COLUMNS reads of a row. */
const SEALED_BYTES = `coalesce(pg_column_size(body), 0) + CASE WHEN kind = 'TRANSFER' THEN pg_column_size(draft) ELSE 0 END`;

/**
 * The most draft and body bytes one page of the courier reads or writes in one statement (a page
 * always holds at least one row). A SUBMIT_RESULT of 256 tasks is ~70 kB of draft and as much of
 * body; on PGlite a statement's rows pass whole through the WebAssembly heap, which never shrinks,
 * so a page of 500 of them (a restart on a backlog) grew the node for good (docs/decisions.md #15).
 */
export const PAGE_BYTES = 4 * 1024 * 1024;

/**
 * `SELECT <columns> FROM outbox WHERE <where> ORDER BY <order> LIMIT $limit`, cut after the row
 * whose `bytes` (an expression of the row) reach `PAGE_BYTES` in all. Sizes are the stored ones
 * (pg_column_size reads the header, never the value), so the rows left out are not read.
 * `out`: the columns returned.
 */
function pageByBytes(
  columns: string,
  bytes: string,
  where: string,
  order: string,
  limit: string,
  out = columns,
): string {
  return `SELECT ${out} FROM (
     SELECT ${columns}, sum(${bytes}) OVER w AS upto, ${bytes} AS own
     FROM outbox WHERE ${where} WINDOW w AS (ORDER BY ${order} ROWS UNBOUNDED PRECEDING)
     ORDER BY ${order} LIMIT ${limit}) page
   WHERE upto - own < ${PAGE_BYTES}
   ORDER BY ${order}`;
}

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
    `INSERT INTO outbox (kind, dedup_key, draft, next_attempt_at_ms, created_at_ms)
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
    `SELECT id, draft FROM outbox WHERE id IN (
       ${pageByBytes('id', 'pg_column_size(draft)', "nonce IS NULL AND status = 'pending'", 'id', '$1')})
     ORDER BY id FOR UPDATE`,
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

/**
 * Up to `limit` sealed pending rows after (sender, nonce), in nonce order, at most PAGE_BYTES of
 * them past the first: one page of a flush. `more`: the page is full (by rows or bytes), so more
 * rows may follow it.
 */
export async function pendingPage(
  q: Queryable,
  after: { sender: string; nonce: number } | undefined,
  limit: number,
): Promise<{ rows: SealedOutboxRow[]; more: boolean }> {
  const rows = await q.query<OutboxRow & { upto: number } & Record<string, unknown>>(
    pageByBytes(
      SEALED_COLUMNS,
      SEALED_BYTES,
      "status = 'pending' AND nonce IS NOT NULL AND (sender, nonce) > ($1, $2)",
      'sender, nonce',
      '$3',
      `${COLUMNS}, upto`,
    ),
    [after?.sender ?? '', after?.nonce ?? -1, limit],
  );
  const more = rows.length === limit || Number(rows.at(-1)?.upto ?? 0) >= PAGE_BYTES;
  return { rows: rows.map(({ upto: _, ...r }) => numbers(r)) as SealedOutboxRow[], more };
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

/** The node's pool took these (or already had them): sent, waiting for a block. */
export async function markSent(
  q: Queryable,
  rows: readonly { id: number; tx_hash: string }[],
  now: number,
): Promise<void> {
  if (rows.length === 0) return;
  await q.query(
    `UPDATE outbox o SET status = 'sent', sent_at_ms = $2, last_error = NULL, check_reason = NULL
     FROM jsonb_to_recordset($1::jsonb) AS x(id bigint, tx_hash text)
     WHERE o.id = x.id AND o.status IN ('pending', 'checking') AND o.tx_hash = x.tx_hash`,
    [JSON.stringify(rows), now],
  );
}

/**
 * Write-ahead: marks these sealed rows as possibly sent, before they are sent (first_sent_at_ms,
 * and sent_height = `height`, the lowest block that can hold them). Returns the ids it marked
 * now (the others were marked before).
 */
export async function markTried(
  q: Queryable,
  ids: readonly number[],
  now: number,
  height: number | null,
): Promise<number[]> {
  if (ids.length === 0) return [];
  const rows = await q.query<{ id: number }>(
    `UPDATE outbox SET first_sent_at_ms = $2, sent_height = $3
     WHERE id = ANY($1::bigint[]) AND first_sent_at_ms IS NULL RETURNING id`,
    [ids, now, height],
  );
  return rows.map((r) => Number(r.id));
}

/** Takes back the write-ahead mark of rows this courier marked and then did not send. */
export async function unmarkTried(q: Queryable, ids: readonly number[]): Promise<void> {
  if (ids.length === 0) return;
  await q.query(
    `UPDATE outbox SET first_sent_at_ms = NULL, sent_height = NULL
     WHERE id = ANY($1::bigint[]) AND status = 'pending' AND attempts = 0`,
    [ids],
  );
}

/** The node's answer may mean it has the transaction already: look in the chain before anything else. */
export async function markChecking(
  q: Queryable,
  id: number,
  txHash: string,
  attempts: number,
  reason: CheckReason,
  error: string,
): Promise<void> {
  await q.query(
    `UPDATE outbox SET status = 'checking', attempts = $3, check_reason = $4, last_error = $5
     WHERE id = $1 AND tx_hash = $2 AND status IN ('pending', 'sent', 'checking')`,
    [id, txHash, attempts, reason, error],
  );
}

/** Proven absent with its nonce still free: pending again, to send the same bytes at `nextAttemptAt`. */
export async function markResend(
  q: Queryable,
  id: number,
  txHash: string,
  nextAttemptAt: number,
  error: string,
): Promise<number> {
  const rows = await q.query(
    `UPDATE outbox SET status = 'pending', next_attempt_at_ms = $3, last_error = $4, check_reason = NULL
     WHERE id = $1 AND tx_hash = $2 AND status IN ('checking', 'held', 'sent') RETURNING id`,
    [id, txHash, nextAttemptAt, error],
  );
  return rows.length;
}

export async function markHeld(q: Queryable, id: number, txHash: string, why: string): Promise<void> {
  await q.query(
    `UPDATE outbox SET status = 'held', last_error = $3 WHERE id = $1 AND tx_hash = $2 AND status = 'checking'`,
    [id, txHash, why],
  );
}

/** Blocks hold these transactions: their entries, in any state short of settled or failed, are included. */
export async function markIncluded(
  q: Queryable,
  found: readonly { tx_hash: string; height: number; block_hash: string }[],
): Promise<number> {
  if (found.length === 0) return 0;
  const rows = await q.query(
    `UPDATE outbox o SET status = 'included', height = x.height, block_hash = x.block_hash,
       last_error = NULL, check_reason = NULL
     FROM jsonb_to_recordset($1::jsonb) AS x(tx_hash text, height bigint, block_hash text)
     WHERE o.tx_hash = x.tx_hash AND o.status IN ('pending', 'sent', 'checking', 'held')
     RETURNING o.id`,
    [JSON.stringify(found)],
  );
  return rows.length;
}

/**
 * The sender's sealed entries never sent (no write-ahead mark) become drafts again, for the next
 * seal; returns how many, and one past the highest nonce of its entries that were (or -1: none).
 */
export async function unsealUntried(
  tx: Queryable,
  sender: string,
): Promise<{ unsealed: number; afterTried: number }> {
  const unsealed = await tx.query(
    `UPDATE outbox SET sender = NULL, nonce = NULL, body = NULL, tx_hash = NULL
     WHERE sender = $1 AND status = 'pending' AND first_sent_at_ms IS NULL RETURNING id`,
    [sender],
  );
  const [row] = await tx.query<{ top: string | null }>(
    'SELECT max(nonce)::text AS top FROM outbox WHERE sender = $1',
    [sender],
  );
  return { unsealed: unsealed.length, afterTried: row?.top == null ? -1 : Number(row.top) + 1 };
}

/** The lowest nonce among the sender's sealed entries never sent; undefined when there are none. */
export async function lowestUntriedNonce(q: Queryable, sender: string): Promise<number | undefined> {
  const [row] = await q.query<{ low: string | null }>(
    `SELECT min(nonce)::text AS low FROM outbox WHERE sender = $1 AND status = 'pending' AND first_sent_at_ms IS NULL`,
    [sender],
  );
  return row?.low == null ? undefined : Number(row.low);
}

/** Failed entries that a block holds after all: the caller reports them (their payout was given back). */
export async function failedAmong(q: Queryable, hashes: readonly string[]): Promise<OutboxRow[]> {
  if (hashes.length === 0) return [];
  const rows = await q.query<OutboxRow & Record<string, unknown>>(
    `SELECT ${COLUMNS} FROM outbox WHERE tx_hash = ANY($1::text[]) AND status = 'failed'`,
    [hashes],
  );
  return rows.map(numbers);
}

/** Included entries at or below `height`: candidates for final (where each was seen, no bodies). */
export async function includedUpTo(
  q: Queryable,
  sender: string,
  height: number,
): Promise<{ id: number; height: number; block_hash: string }[]> {
  const rows = await q.query<{ id: number; height: number; block_hash: string }>(
    `SELECT id, height, block_hash FROM outbox WHERE sender = $1 AND status = 'included' AND height <= $2
     ORDER BY nonce LIMIT 10000`,
    [sender, height],
  );
  return rows.map((r) => ({ id: Number(r.id), height: Number(r.height), block_hash: r.block_hash }));
}

export async function markFinal(q: Queryable, ids: readonly number[], now: number): Promise<void> {
  if (ids.length === 0) return;
  await q.query(
    `UPDATE outbox SET status = 'final', final_at_ms = $2 WHERE id = ANY($1::bigint[]) AND status = 'included'`,
    [ids, now],
  );
}

/** The block that held them is gone (a reorganisation): they wait for a block again. */
export async function markUnincluded(q: Queryable, ids: readonly number[]): Promise<void> {
  if (ids.length === 0) return;
  await q.query(
    `UPDATE outbox SET status = 'sent', height = NULL, block_hash = NULL
     WHERE id = ANY($1::bigint[]) AND status = 'included'`,
    [ids],
  );
}

/**
 * Entries under check, and sent entries the pool took before `expiredBefore`, in nonce order (at
 * most PAGE_BYTES of them past the first).
 */
export async function unsettledPage(
  q: Queryable,
  sender: string,
  expiredBefore: number,
  limit: number,
): Promise<SealedOutboxRow[]> {
  const rows = await q.query<OutboxRow & Record<string, unknown>>(
    pageByBytes(
      SEALED_COLUMNS,
      SEALED_BYTES,
      "sender = $1 AND (status = 'checking' OR (status = 'sent' AND sent_at_ms < $2))",
      'nonce',
      '$3',
      COLUMNS,
    ),
    [sender, expiredBefore, limit],
  );
  return rows.map(numbers) as SealedOutboxRow[];
}

/** The lowest sent_height of the sender's entries that may still be found in a block; null: none. */
export async function lowestOpenSentHeight(
  q: Queryable,
  sender: string,
): Promise<{ any: boolean; lowest: number | null; unknown: boolean }> {
  const [row] = await q.query<{ n: number; lowest: string | null; unknown: number }>(
    `SELECT count(*)::int AS n, min(sent_height)::text AS lowest,
            count(*) FILTER (WHERE sent_height IS NULL)::int AS unknown
     FROM outbox WHERE sender = $1 AND first_sent_at_ms IS NOT NULL
       AND status IN ('pending', 'sent', 'checking', 'held')`,
    [sender],
  );
  return {
    any: (row?.n ?? 0) > 0,
    lowest: row?.lowest == null ? null : Number(row.lowest),
    unknown: (row?.unknown ?? 0) > 0,
  };
}

export interface ChainCursor {
  next_height: number;
  origin_height: number;
}

export async function getCursor(q: Queryable, sender: string): Promise<ChainCursor | undefined> {
  const [row] = await q.query<{ next_height: string; origin_height: string }>(
    'SELECT next_height::text, origin_height::text FROM chain_cursor WHERE sender = $1',
    [sender],
  );
  return row && { next_height: Number(row.next_height), origin_height: Number(row.origin_height) };
}

export async function setCursor(q: Queryable, sender: string, c: ChainCursor): Promise<void> {
  await q.query(
    `INSERT INTO chain_cursor (sender, next_height, origin_height) VALUES ($1, $2, $3)
     ON CONFLICT (sender) DO UPDATE SET next_height = $2, origin_height = $3`,
    [sender, c.next_height, c.origin_height],
  );
}

/** Held entries, for the operator (`compute courier status`). */
export async function heldEntries(q: Queryable, limit = 100): Promise<OutboxRow[]> {
  const rows = await q.query<OutboxRow & Record<string, unknown>>(
    `SELECT ${COLUMNS} FROM outbox WHERE status = 'held' ORDER BY sender, nonce LIMIT $1`,
    [limit],
  );
  return rows.map(numbers);
}

export async function getOutboxById(q: Queryable, id: number): Promise<OutboxRow | undefined> {
  const rows = await q.query<OutboxRow & Record<string, unknown>>(
    `SELECT ${COLUMNS} FROM outbox WHERE id = $1`,
    [id],
  );
  return rows[0] && numbers(rows[0]);
}

/** The operator says a held entry landed: final, with a note. Returns 1, or 0 if it was not held. */
export async function resolveLanded(q: Queryable, id: number, now: number): Promise<number> {
  const rows = await q.query(
    `UPDATE outbox SET status = 'final', final_at_ms = $2,
       last_error = 'the operator marked it landed (was held: ' || coalesce(last_error, '') || ')'
     WHERE id = $1 AND status = 'held' RETURNING id`,
    [id, now],
  );
  return rows.length;
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
    `UPDATE outbox SET status = 'pending', attempts = $3, next_attempt_at_ms = $4, last_error = $5
     WHERE id = $1 AND status IN ('pending', 'checking') AND tx_hash = $2`,
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
     WHERE id = $1 AND status IN ('pending', 'checking') AND tx_hash IS NOT DISTINCT FROM $2
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
): Promise<{ id: number; status: OutboxStatus; attempts: number; tried: boolean }[]> {
  const rows = await tx.query<{ id: number; status: OutboxStatus; attempts: number; tried: boolean }>(
    `SELECT id, status, attempts, first_sent_at_ms IS NOT NULL AS tried FROM outbox
     WHERE sender = $1 AND nonce > $2 ORDER BY nonce FOR UPDATE`,
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
     WHERE sender = $1 AND nonce > $2 AND status = 'pending' AND first_sent_at_ms IS NULL
     RETURNING id`,
    [sender, nonce],
  );
  return updated.length;
}

export async function countOutboxByStatus(q: Queryable): Promise<Record<OutboxStatus, number>> {
  const rows = await q.query<{ status: OutboxStatus; n: number }>(
    'SELECT status, count(*)::int AS n FROM outbox GROUP BY status',
  );
  const counts = Object.fromEntries(OUTBOX_STATUSES.map((st) => [st, 0])) as Record<OutboxStatus, number>;
  for (const r of rows) counts[r.status] = r.n;
  return counts;
}

function numbers(r: OutboxRow): OutboxRow {
  return {
    ...r,
    id: Number(r.id),
    nonce: r.nonce === null ? null : Number(r.nonce),
    next_attempt_at_ms: Number(r.next_attempt_at_ms),
    created_at_ms: Number(r.created_at_ms),
    height: nullable(r.height),
    sent_at_ms: nullable(r.sent_at_ms),
    first_sent_at_ms: nullable(r.first_sent_at_ms),
    sent_height: nullable(r.sent_height),
    final_at_ms: nullable(r.final_at_ms),
  };
}

function nullable(v: unknown): number | null {
  return v === null || v === undefined ? null : Number(v);
}

/** The hashes of the sender's last blocks read, highest first (at most `limit`). */
export async function seenBlocks(
  q: Queryable,
  sender: string,
  limit: number,
): Promise<{ height: number; hash: string }[]> {
  const rows = await q.query<{ height: string; hash: string }>(
    'SELECT height::text, hash FROM chain_seen_blocks WHERE sender = $1 ORDER BY height DESC LIMIT $2',
    [sender, limit],
  );
  return rows.map((r) => ({ height: Number(r.height), hash: r.hash }));
}

/** Records blocks read (replacing what was recorded at their heights) and keeps the last `keep`. */
export async function rememberBlocks(
  q: Queryable,
  sender: string,
  blocks: readonly { height: number; hash: string }[],
  keep: number,
): Promise<void> {
  if (blocks.length === 0) return;
  await q.query(
    `INSERT INTO chain_seen_blocks (sender, height, hash)
     SELECT $1, x.height, x.hash FROM jsonb_to_recordset($2::jsonb) AS x(height bigint, hash text)
     ON CONFLICT (sender, height) DO UPDATE SET hash = EXCLUDED.hash`,
    [sender, JSON.stringify(blocks)],
  );
  const top = Math.max(...blocks.map((b) => b.height));
  await q.query('DELETE FROM chain_seen_blocks WHERE sender = $1 AND (height <= $2 OR height > $3)', [
    sender,
    top - keep,
    top,
  ]);
}

/**
 * A reorganisation from `height` up: the sender's entries included (or final) there go back to
 * `checking` (reason `reorg`, found again or sent again as the same bytes), and the blocks read
 * there are forgotten. Returns the entries moved, with how many of them were final.
 */
export async function rewindFrom(
  q: Queryable,
  sender: string,
  height: number,
): Promise<{ moved: number; wereFinal: number }> {
  const rows = await q.query<{ was: string }>(
    `WITH old AS (
       SELECT id, status AS was FROM outbox
       WHERE sender = $1 AND status IN ('included', 'final') AND height >= $2)
     UPDATE outbox o SET status = 'checking', check_reason = 'reorg', height = NULL, block_hash = NULL,
       final_at_ms = NULL, last_error = 'the block holding it was replaced (reorganisation)'
     FROM old WHERE o.id = old.id RETURNING old.was`,
    [sender, height],
  );
  await q.query('DELETE FROM chain_seen_blocks WHERE sender = $1 AND height >= $2', [sender, height]);
  return { moved: rows.length, wereFinal: rows.filter((r) => r.was === 'final').length };
}

/** Whether an entry of the sender other than a failed one holds `nonce`: something of ours will fill it. */
export async function liveAtNonce(q: Queryable, sender: string, nonce: number): Promise<boolean> {
  const rows = await q.query(
    `SELECT 1 FROM outbox WHERE sender = $1 AND nonce = $2 AND status <> 'failed' LIMIT 1`,
    [sender, nonce],
  );
  return rows.length > 0;
}

/** Whether an entry of the sender above `nonce` was sent and waits for a block. */
export async function waitingAbove(q: Queryable, sender: string, nonce: number): Promise<boolean> {
  const rows = await q.query(
    `SELECT 1 FROM outbox WHERE sender = $1 AND nonce > $2 AND status IN ('sent', 'checking', 'held') LIMIT 1`,
    [sender, nonce],
  );
  return rows.length > 0;
}

/**
 * A failed entry gives up the nonce it kept (for the filler sealed there): its seal moves to
 * last_error. Returns how many gave it up (0 or 1).
 */
export async function releaseFailedNonce(
  q: Queryable,
  sender: string,
  nonce: number,
  note: string,
): Promise<number> {
  const rows = await q.query(
    `UPDATE outbox SET last_error = coalesce(last_error, '') || $3 || ' (tx ' || coalesce(tx_hash, '?') || ')',
       sender = NULL, nonce = NULL, body = NULL, tx_hash = NULL
     WHERE sender = $1 AND nonce = $2 AND status = 'failed' RETURNING id`,
    [sender, nonce, note],
  );
  return rows.length;
}

/** How many nonce fillers the sender has had at `nonce` (their dedup keys count up). */
export async function countGapFills(q: Queryable, sender: string, nonce: number): Promise<number> {
  const [row] = await q.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM outbox WHERE dedup_key LIKE $1`,
    [`gap:${sender}:${nonce}:%`],
  );
  return row?.n ?? 0;
}
