// Ledger queries: append journals and move the materialised balances in the same transaction.
// Bulk statements take one JSON parameter so a group commit of N requests is a few round trips.

import type { LedgerSnapshot, Journal, Posting } from '../domain/ledger.js';
import { balanceDeltas, isBalanced } from '../domain/ledger.js';
import type { Queryable } from './db.js';
import { TASK_HOLDS } from './tasks.js';

export async function appendJournals(
  tx: Queryable,
  journals: readonly Journal[],
  now: number,
): Promise<void> {
  if (journals.length === 0) return;
  const entries: object[] = [];
  const all: Posting[] = [];
  for (const j of journals) {
    if (!isBalanced(j.postings)) throw new Error(`journal ${j.journalId} (${j.kind}) does not balance`);
    for (const p of j.postings) {
      entries.push({
        journal_id: j.journalId,
        kind: j.kind,
        ref: j.ref,
        account_id: p.accountId,
        asset: p.asset,
        amount: p.amount.toString(),
      });
      all.push(p);
    }
  }
  await tx.query(
    `INSERT INTO ledger_entries (journal_id, kind, ref, account_id, asset, amount, created_at_ms)
     SELECT journal_id, kind, ref, account_id, asset, amount, $2
     FROM jsonb_to_recordset($1::jsonb) AS x(journal_id uuid, kind text, ref text, account_id uuid, asset text, amount numeric)`,
    [JSON.stringify(entries), now],
  );
  const deltas = balanceDeltas(all).map((d) => ({
    account_id: d.accountId,
    asset: d.asset,
    delta: d.amount.toString(),
  }));
  if (deltas.length === 0) return;
  await tx.query(
    `INSERT INTO balances AS b (account_id, asset, amount)
     SELECT account_id, asset, delta FROM jsonb_to_recordset($1::jsonb) AS x(account_id uuid, asset text, delta numeric)
     ORDER BY account_id, asset
     ON CONFLICT (account_id, asset) DO UPDATE SET amount = b.amount + EXCLUDED.amount`,
    [JSON.stringify(deltas)],
  );
}

export interface BalanceRow {
  account_id: string;
  amount: string;
  credit_limit: string;
}

/** Locks the balance rows of these accounts (in a stable order, so batches never deadlock). */
export async function lockBalances(
  tx: Queryable,
  accountIds: readonly string[],
  asset: string,
): Promise<Map<string, BalanceRow>> {
  const rows = await tx.query<BalanceRow & Record<string, unknown>>(
    `SELECT account_id, amount, credit_limit FROM balances
     WHERE asset = $2 AND account_id IN (SELECT value::uuid FROM jsonb_array_elements_text($1::jsonb))
     ORDER BY account_id FOR UPDATE`,
    [JSON.stringify(accountIds), asset],
  );
  return new Map(rows.map((r) => [r.account_id, r]));
}

export async function readLedgerSnapshot(
  q: Queryable,
  escrowAccount: string,
  burnAccount: string,
  externalAccount: string,
): Promise<LedgerSnapshot> {
  const assets = await q.query<{
    asset: string;
    balance_sum: string;
    external: string;
    escrow: string;
    burned: string;
    held: string;
  }>(
    `SELECT b.asset,
            sum(b.amount)::text AS balance_sum,
            coalesce(sum(b.amount) FILTER (WHERE b.account_id = $2), 0)::text AS external,
            coalesce(sum(b.amount) FILTER (WHERE b.account_id = $1), 0)::text AS escrow,
            coalesce(sum(b.amount) FILTER (WHERE b.account_id = $3), 0)::text AS burned,
            (SELECT coalesce(sum(h.held), 0) FROM ${TASK_HOLDS} h WHERE h.asset = b.asset)::text AS held
     FROM balances b GROUP BY b.asset ORDER BY b.asset`,
    [escrowAccount, externalAccount, burnAccount],
  );
  const unbalanced = await q.query<{ journal_id: string }>(
    `SELECT journal_id FROM ledger_entries GROUP BY journal_id, asset HAVING sum(amount) <> 0 LIMIT 100`,
  );
  const drifted = await q.query<{ account_id: string; asset: string; amount: string; entries: string }>(
    `SELECT b.account_id, b.asset, b.amount::text, coalesce(e.total, 0)::text AS entries
     FROM balances b
     LEFT JOIN (SELECT account_id, asset, sum(amount) AS total FROM ledger_entries GROUP BY account_id, asset) e
       ON e.account_id = b.account_id AND e.asset = b.asset
     WHERE b.amount <> coalesce(e.total, 0) LIMIT 100`,
  );
  const overdrawn = await q.query<{
    account_id: string;
    asset: string;
    amount: string;
    credit_limit: string;
  }>(
    `SELECT b.account_id, b.asset, b.amount::text, b.credit_limit::text
     FROM balances b JOIN accounts a USING (account_id)
     WHERE a.kind <> 'external' AND b.amount + b.credit_limit < 0 LIMIT 100`,
  );
  return {
    assets: assets.map((a) => ({
      asset: a.asset,
      balanceSum: BigInt(a.balance_sum),
      external: BigInt(a.external),
      escrow: BigInt(a.escrow),
      escrowHeldByTasks: BigInt(a.held),
      burned: BigInt(a.burned),
    })),
    unbalancedJournals: unbalanced.map((r) => r.journal_id),
    driftedBalances: drifted.map((r) => ({
      accountId: r.account_id,
      asset: r.asset,
      balance: BigInt(r.amount),
      entries: BigInt(r.entries),
    })),
    overdrawn: overdrawn.map((r) => ({
      accountId: r.account_id,
      asset: r.asset,
      balance: BigInt(r.amount),
      creditLimit: BigInt(r.credit_limit),
    })),
  };
}
