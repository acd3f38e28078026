// SLA bonds on jobs: recorded when posted, taken (set back to zero, once) when they are returned
// or slashed, so a replayed release or a second sweep moves no money twice.

import type { Queryable } from './db.js';

export async function setBonds(
  tx: Queryable,
  bonds: readonly { job_id: string; bond: bigint }[],
): Promise<void> {
  if (bonds.length === 0) return;
  await tx.query(
    `UPDATE jobs j SET bond = x.bond FROM unnest($1::uuid[], $2::numeric[]) AS x(job_id, bond)
     WHERE j.job_id = x.job_id`,
    [bonds.map((b) => b.job_id), bonds.map((b) => b.bond.toString())],
  );
}

export interface TakenBond {
  job_id: string;
  task_id: string;
  worker_address: string;
  bond: string;
}

/** Clears the bonds of these jobs and returns what they were: each bond is taken once. */
export async function takeBonds(tx: Queryable, jobIds: readonly string[]): Promise<TakenBond[]> {
  if (jobIds.length === 0) return [];
  return tx.query<TakenBond & Record<string, unknown>>(
    `UPDATE jobs j SET bond = 0 FROM (SELECT job_id, bond AS old FROM jobs
       WHERE bond > 0 AND worker_address IS NOT NULL AND job_id = ANY($1::uuid[]) FOR UPDATE) o
     WHERE j.job_id = o.job_id
     RETURNING j.job_id, j.task_id, j.worker_address, o.old::text AS bond`,
    [jobIds],
  );
}

/** The bonds account's balance and the bonds jobs hold, read in one statement (one snapshot). */
export async function bondTotals(
  q: Queryable,
  bondsAccount: string,
): Promise<{ account: bigint; heldByJobs: bigint }> {
  const [row] = await q.query<{ account: string; held: string }>(
    `SELECT coalesce((SELECT amount FROM balances WHERE account_id = $1 AND asset = 'CPC'), 0)::text AS account,
            (SELECT coalesce(sum(bond), 0) FROM jobs)::text AS held`,
    [bondsAccount],
  );
  return { account: BigInt(row?.account ?? '0'), heldByJobs: BigInt(row?.held ?? '0') };
}

/** Real-mode earnings of these providers waiting to be paid out on chain (not yet batched). */
export async function unbatchedPayouts(
  q: Queryable,
  addresses: readonly string[],
): Promise<Map<string, bigint>> {
  if (addresses.length === 0) return new Map();
  const rows = await q.query<{ address: string; owed: string }>(
    `SELECT address, sum(amount)::text AS owed FROM payouts
     WHERE batch_id IS NULL AND asset = 'CPC' AND address = ANY($1::text[]) GROUP BY address`,
    [[...new Set(addresses)]],
  );
  return new Map(rows.map((r) => [r.address, BigInt(r.owed)]));
}
