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
    `INSERT INTO payouts (receipt_key, task_id, address, asset, amount, created_at)
     SELECT receipt_key, task_id, address, asset, amount, $2
     FROM jsonb_to_recordset($1::jsonb) AS x(receipt_key text, task_id uuid, address text, asset text, amount numeric)
     ON CONFLICT (receipt_key) DO NOTHING`,
    [JSON.stringify(rows), now],
  );
}

/** Up to `limit` unbatched payouts of `asset`, oldest first, locked (a second node skips them). */
export async function claimUnbatched(tx: Queryable, asset: string, limit: number): Promise<PayoutRow[]> {
  return tx.query<PayoutRow & Record<string, unknown>>(
    `SELECT receipt_key, task_id, address, asset, amount::text AS amount FROM payouts
     WHERE batch_id IS NULL AND asset = $1 ORDER BY created_at, receipt_key LIMIT $2
     FOR UPDATE SKIP LOCKED`,
    [asset, limit],
  );
}

export async function markBatched(
  tx: Queryable,
  receiptKeys: readonly string[],
  batchId: string,
  now: number,
): Promise<void> {
  if (receiptKeys.length === 0) return;
  await tx.query(
    `UPDATE payouts SET batch_id = $2, batched_at = $3
     WHERE receipt_key IN (SELECT value FROM jsonb_array_elements_text($1::jsonb))`,
    [JSON.stringify(receiptKeys), batchId, now],
  );
}
