// Bids under commit–reveal (migration 0050_bids.sql), with the height of the block holding each
// bid's BidTx read from its outbox entry.

import type { Queryable } from './db.js';

export type BidRow = {
  bid_id: string;
  account_id: string;
  commitment: string;
  status: 'committed' | 'revealed';
  task_id: string | null;
  created_at_ms: number;
  revealed_at_ms: number | null;
  /** The BidTx's outbox status (pending … final), null if it was never queued. */
  tx_status: string | null;
  tx_hash: string | null;
  /** The block holding the BidTx: set once the entry is included or final. */
  commit_height: number | null;
};

export async function insertBid(
  q: Queryable,
  bid: { bid_id: string; account_id: string; commitment: string; created_at_ms: number },
): Promise<boolean> {
  const rows = await q.query(
    `INSERT INTO bids (bid_id, account_id, commitment, status, created_at_ms)
     VALUES ($1, $2, $3, 'committed', $4) ON CONFLICT (commitment) DO NOTHING RETURNING bid_id`,
    [bid.bid_id, bid.account_id, bid.commitment, bid.created_at_ms],
  );
  return rows.length > 0;
}

export async function getBid(q: Queryable, bidId: string, dedupKey: string): Promise<BidRow | undefined> {
  const rows = await q.query<BidRow>(
    `SELECT b.bid_id, b.account_id, b.commitment, b.status, b.task_id, b.created_at_ms,
            b.revealed_at_ms, o.status AS tx_status, o.tx_hash,
            CASE WHEN o.status IN ('included', 'final') THEN o.height::int END AS commit_height
     FROM bids b LEFT JOIN outbox o ON o.dedup_key = $2
     WHERE b.bid_id = $1`,
    [bidId, dedupKey],
  );
  return rows[0];
}

/** Marks a committed bid revealed with its task; false when it was not committed any more. */
export async function markRevealed(
  q: Queryable,
  bidId: string,
  taskId: string,
  now: number,
): Promise<boolean> {
  const rows = await q.query(
    `UPDATE bids SET status = 'revealed', task_id = $2, revealed_at_ms = $3
     WHERE bid_id = $1 AND status = 'committed' RETURNING bid_id`,
    [bidId, taskId, now],
  );
  return rows.length > 0;
}
