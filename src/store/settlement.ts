// Settlement queries: what a finished task owes, receipts, provider accounts, the mode.

import { ASSETS } from '../domain/money.js';
import type { Queryable } from './db.js';

export interface SettleJob {
  job_id: string;
  task_id: string;
  account_id: string;
  /** The task's consumer token (CT) and industrial token, and the CT percentage of its escrow. */
  asset: string;
  it_asset: string;
  fee_pct_ct: number;
  /** The task's status, Merkle result and main worker: what its SUBMIT_RESULT carries. */
  status: string;
  task_result_hash: string | null;
  task_worker: string | null;
  /** The job's own result hash and worker. */
  result_hash: string;
  worker_address: string;
  units: number;
  quote_price: string | null;
  /** Providers whose results agreed with this job's: they are paid its validators' share. */
  verifiers: string[];
}

/**
 * The completed jobs of tasks being settled, with each task's buyer, assets, result and main
 * worker. What the escrow held comes from the statement that completed the task (completeTasks).
 */
export async function jobsToSettle(tx: Queryable, taskIds: readonly string[]): Promise<SettleJob[]> {
  if (taskIds.length === 0) return [];
  // Arrays, not IN (SELECT …): the planner then reads the jobs by their task index.
  return tx.query<SettleJob & Record<string, unknown>>(
    `SELECT j.job_id, j.task_id, t.account_id, t.asset, t.it_asset, t.fee_pct_ct, t.status,
            t.result_hash AS task_result_hash, t.worker_address AS task_worker, j.result_hash,
            j.worker_address, j.units, j.quote_price::text AS quote_price, j.verifiers
     FROM tasks t JOIN jobs j ON j.task_id = t.task_id
     WHERE t.task_id = ANY ($1::uuid[]) AND j.task_id = ANY ($1::uuid[]) AND j.status = 'completed'
       AND j.verifies IS NULL
     ORDER BY j.task_id, j.idx`,
    [[...taskIds]],
  );
}

/** A receipt as it is stored. */
export interface NewReceiptRow {
  idempotency_key: string;
  job_id: string;
  task_id: string;
  body: string;
  amount: string;
  mode: string;
  applied: boolean;
  /** The settlement journal that moved its money (the batch's). */
  journal_id: string;
}

/** Inserts receipts; returns the keys that were new (a replayed receipt is ignored). */
export async function insertReceipts(
  tx: Queryable,
  rows: readonly NewReceiptRow[],
  now: number,
): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const inserted = await tx.query<{ idempotency_key: string }>(
    `INSERT INTO receipts (idempotency_key, job_id, task_id, body, amount, mode, applied, journal_id, created_at_ms)
     SELECT idempotency_key, job_id, task_id, body, amount, mode, applied, journal_id, $2
     FROM jsonb_to_recordset($1::jsonb) AS x(idempotency_key text, job_id uuid, task_id uuid, body text, amount numeric,
          mode text, applied boolean, journal_id uuid)
     ON CONFLICT (idempotency_key) DO NOTHING
     RETURNING idempotency_key`,
    [JSON.stringify(rows), now],
  );
  return new Set(inserted.map((r) => r.idempotency_key));
}

/**
 * Up to `limit` stored receipts in key order, after `afterKey` (undefined: from the first): one
 * page of a keyset scan over the primary key index, so a scan of any size holds one page.
 */
export async function receiptPage(
  q: Queryable,
  afterKey: string | undefined,
  limit: number,
): Promise<{ idempotency_key: string; body: string }[]> {
  if (afterKey === undefined)
    return q.query(`SELECT idempotency_key, body FROM receipts ORDER BY idempotency_key LIMIT $1`, [limit]);
  return q.query(
    `SELECT idempotency_key, body FROM receipts WHERE idempotency_key > $1 ORDER BY idempotency_key LIMIT $2`,
    [afterKey, limit],
  );
}

/** The ledger account of each provider address, created on first use. */
export async function providerAccounts(
  tx: Queryable,
  addresses: readonly string[],
  asset: string,
  now: number,
): Promise<Map<string, string>> {
  if (addresses.length === 0) return new Map();
  const list = JSON.stringify([...new Set(addresses)].sort());
  await tx.query(
    `INSERT INTO accounts (account_id, name, kind, address, created_at_ms)
     SELECT gen_random_uuid(), value, 'provider', value, $2 FROM jsonb_array_elements_text($1::jsonb)
     ON CONFLICT (address) DO NOTHING`,
    [list, now],
  );
  const rows = await tx.query<{ account_id: string; address: string }>(
    `SELECT account_id, address FROM accounts WHERE address IN (SELECT value FROM jsonb_array_elements_text($1::jsonb))`,
    [list],
  );
  await tx.query(
    `INSERT INTO balances (account_id, asset) SELECT account_id, asset FROM accounts, unnest($2::text[]) AS asset
     WHERE address IN (SELECT value FROM jsonb_array_elements_text($1::jsonb)) ON CONFLICT DO NOTHING`,
    [list, [...new Set([asset, ...ASSETS])]],
  );
  return new Map(rows.map((r) => [r.address, r.account_id]));
}

export async function archiveFailure(
  tx: Queryable,
  taskId: string,
  reason: string,
  detail: unknown,
  now: number,
): Promise<void> {
  await tx.query(
    `INSERT INTO settlement_failures (task_id, reason, detail, created_at_ms) VALUES ($1, $2, $3, $4)`,
    [taskId, reason, JSON.stringify(detail), now],
  );
}

export async function loadSettlementState(q: Queryable): Promise<unknown> {
  const [row] = await q.query<{ state: unknown }>(`SELECT state FROM settlement_state WHERE id = 1`);
  return row?.state;
}

export async function saveSettlementState(q: Queryable, state: unknown, now: number): Promise<void> {
  await q.query(
    `INSERT INTO settlement_state (id, state, updated_at_ms) VALUES (1, $1, $2)
     ON CONFLICT (id) DO UPDATE SET state = $1, updated_at_ms = $2`,
    [JSON.stringify(state), now],
  );
}

export async function systemBalances(q: Queryable, asset: string): Promise<Record<string, string>> {
  const rows = await q.query<{ name: string; amount: string }>(
    `SELECT CASE WHEN a.kind = 'provider' THEN 'providers' ELSE a.name END AS name, sum(b.amount)::text AS amount
     FROM balances b JOIN accounts a USING (account_id)
     WHERE b.asset = $1 AND a.kind IN ('system', 'provider') GROUP BY 1`,
    [asset],
  );
  return Object.fromEntries(rows.map((r) => [r.name, r.amount]));
}

/** The charges of these jobs' receipts that moved money (Real mode), by job. */
export async function appliedCharges(q: Queryable, jobIds: readonly string[]): Promise<Map<string, bigint>> {
  if (jobIds.length === 0) return new Map();
  const rows = await q.query<{ job_id: string; amount: string }>(
    `SELECT job_id, amount::text AS amount FROM receipts WHERE job_id = ANY($1::uuid[]) AND applied`,
    [[...jobIds]],
  );
  return new Map(rows.map((r) => [r.job_id, BigInt(r.amount)]));
}
