// What GET /providers/{address} reads: the provider's row, its ledger account's balances and
// settlement income per asset, and its most recent jobs.

import type { Queryable } from './db.js';

export interface ProviderFacts {
  account_id: string | null;
  first_seen_ms: number | null;
  last_seen_ms: number | null;
  jobs_completed: number;
  jobs_failed: number;
  lease_expiries: number;
  running: number;
}

export async function providerFacts(q: Queryable, address: string): Promise<ProviderFacts | undefined> {
  const rows = await q.query<ProviderFacts & Record<string, unknown>>(
    `SELECT a.account_id, p.first_seen_ms, p.last_seen_ms,
            COALESCE(p.jobs_completed, 0) AS jobs_completed, COALESCE(p.jobs_failed, 0) AS jobs_failed,
            COALESCE(p.lease_expiries, 0) AS lease_expiries,
            (SELECT count(*) FROM jobs j WHERE j.worker_address = $1 AND j.status = 'leased') AS running
     FROM (SELECT $1::text AS address) x
     LEFT JOIN providers p ON p.address = x.address
     LEFT JOIN accounts a ON a.address = x.address
     WHERE p.address IS NOT NULL OR a.account_id IS NOT NULL`,
    [address],
  );
  return rows[0];
}

/** Balances and everything settlement ever credited, per asset. */
export async function providerMoney(
  q: Queryable,
  accountId: string,
): Promise<{ asset: string; balance: string; earned: string }[]> {
  return q.query(
    `SELECT b.asset, b.amount::text AS balance,
            COALESCE((SELECT sum(e.amount) FROM ledger_entries e
                      WHERE e.account_id = b.account_id AND e.asset = b.asset AND e.kind = 'settlement' AND e.amount > 0),
                     0)::text AS earned
     FROM balances b WHERE b.account_id = $1 ORDER BY b.asset = 'CPC' DESC, b.asset`,
    [accountId],
  );
}

export interface ProviderJobRow {
  job_id: string;
  task_id: string;
  challenge_type: string;
  status: 'queued' | 'leased' | 'completed' | 'failed' | 'cancelled';
  units: number;
  started_at_ms: number | null;
  finished_at_ms: number | null;
  failure_reason: string | null;
}

export async function recentJobsOf(q: Queryable, address: string, limit: number): Promise<ProviderJobRow[]> {
  return q.query<ProviderJobRow & Record<string, unknown>>(
    `SELECT job_id, task_id, challenge_type, status, units, started_at_ms, finished_at_ms, failure_reason
     FROM jobs WHERE worker_address = $1 ORDER BY seq DESC LIMIT $2`,
    [address, limit],
  );
}
