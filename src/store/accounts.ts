// Account queries. API keys are stored as SHA-256 hashes; the key itself is shown once.

import { ASSETS, CPC } from '../domain/money.js';
import type { Queryable } from './db.js';

export interface AccountRow {
  account_id: string;
  name: string;
  kind: string;
  created_at_ms: number;
}

export interface AccountBalanceRow extends AccountRow {
  asset: string;
  amount: string;
  credit_limit: string;
}

export async function insertAccount(
  tx: Queryable,
  a: {
    accountId: string;
    name: string;
    kind: 'customer' | 'provider';
    apiKeyHash: string | null;
    createdAtMs: number;
  },
  creditLimit: bigint,
): Promise<void> {
  await tx.query(
    `INSERT INTO accounts (account_id, name, kind, api_key_hash, created_at_ms) VALUES ($1, $2, $3, $4, $5)`,
    [a.accountId, a.name, a.kind, a.apiKeyHash, a.createdAtMs],
  );
  // A row per asset (CT and IT), so every balance can be locked; the credit limit is CPC's.
  await tx.query(
    `INSERT INTO balances (account_id, asset, credit_limit)
     SELECT $1, asset, CASE WHEN asset = $3 THEN $2::numeric ELSE 0 END FROM unnest($4::text[]) AS asset`,
    [a.accountId, creditLimit.toString(), CPC, [...ASSETS]],
  );
}

export async function accountByKeyHash(q: Queryable, hash: string): Promise<AccountRow | undefined> {
  const rows = await q.query<AccountRow & Record<string, unknown>>(
    `SELECT account_id, name, kind, created_at_ms FROM accounts WHERE api_key_hash = $1`,
    [hash],
  );
  return rows[0];
}

export async function accountWithBalance(
  q: Queryable,
  accountId: string,
  asset: string,
): Promise<AccountBalanceRow | undefined> {
  const rows = await q.query<AccountBalanceRow & Record<string, unknown>>(
    `SELECT a.account_id, a.name, a.kind, a.created_at_ms, b.asset, b.amount::text AS amount, b.credit_limit::text AS credit_limit
     FROM accounts a JOIN balances b ON b.account_id = a.account_id AND b.asset = $2
     WHERE a.account_id = $1`,
    [accountId, asset],
  );
  return rows[0];
}

/** The account's balance row of every asset, CT first. */
export async function accountBalances(q: Queryable, accountId: string): Promise<AccountBalanceRow[]> {
  return q.query<AccountBalanceRow & Record<string, unknown>>(
    `SELECT a.account_id, a.name, a.kind, a.created_at_ms, b.asset, b.amount::text AS amount, b.credit_limit::text AS credit_limit
     FROM accounts a JOIN balances b ON b.account_id = a.account_id
     WHERE a.account_id = $1 ORDER BY array_position($2::text[], b.asset), b.asset`,
    [accountId, [...ASSETS]],
  );
}

export async function setCreditLimit(
  tx: Queryable,
  accountId: string,
  asset: string,
  limit: bigint,
): Promise<boolean> {
  const rows = await tx.query(
    `UPDATE balances SET credit_limit = $3 WHERE account_id = $1 AND asset = $2
       AND account_id IN (SELECT account_id FROM accounts WHERE kind = 'customer')
     RETURNING 1 AS ok`,
    [accountId, asset, limit.toString()],
  );
  return rows.length > 0;
}
