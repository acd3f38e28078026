// Payout queries: each Real-mode receipt's worker share waits here until a payout flush batches
// it into a TRANSFER; batch_id marks it paid out, in the same transaction as the outbox row.

import type { Queryable } from './db.js';

export interface PayoutRow {
  receipt_key: string;
  task_id: string;
  address: string;
  asset: string;
  /** Base units, decimal. */
  amount: string;
}

export async function insertPayouts(tx: Queryable, rows: readonly PayoutRow[], now: number): Promise<void> {
  if (rows.length === 0) return;
  await tx.query(
    `INSERT INTO payouts (receipt_key, task_id, address, asset, amount, created_at_ms)
     SELECT receipt_key, task_id, address, asset, amount, $2
     FROM jsonb_to_recordset($1::jsonb) AS x(receipt_key text, task_id uuid, address text, asset text, amount numeric)
     ON CONFLICT (receipt_key) DO NOTHING`,
    [JSON.stringify(rows), now],
  );
}

/**
 * Claims up to `limit` unbatched payouts of `asset`, oldest first, for batch `batchId` (rows
 * another node holds are skipped), and returns what they add up to per address: the database
 * sums them, so a flush of any size holds one row per provider.
 */
export async function claimPayoutTotals(
  tx: Queryable,
  asset: string,
  limit: number,
  batchId: string,
  now: number,
): Promise<{ address: string; amount: string; payouts: number }[]> {
  return tx.query(
    `WITH claimed AS (
       SELECT receipt_key FROM payouts WHERE batch_id IS NULL AND asset = $1
       ORDER BY created_at_ms, receipt_key LIMIT $2 FOR UPDATE SKIP LOCKED
     ), marked AS (
       UPDATE payouts p SET batch_id = $3, batched_at_ms = $4 FROM claimed
       WHERE p.receipt_key = claimed.receipt_key RETURNING p.address, p.amount
     )
     SELECT address, sum(amount)::text AS amount, count(*)::int AS payouts FROM marked
     GROUP BY address ORDER BY address`,
    [asset, limit, batchId, now],
  );
}
