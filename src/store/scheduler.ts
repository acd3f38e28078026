// Scheduler state: provider reputation, the current parameters and their audit trail, and the
// cancellation log.

import type { ReputationEntry } from '../domain/reputation.js';
import type { Queryable } from './db.js';

export async function loadReputation(q: Queryable, address: string): Promise<ReputationEntry | undefined> {
  const [row] = await q.query<{ score: number; epoch: number; updated_at_ms: number }>(
    `SELECT score, epoch, updated_at_ms FROM provider_reputation WHERE address = $1`,
    [address],
  );
  return row ? { score: row.score, epoch: row.epoch, updatedAtMs: row.updated_at_ms } : undefined;
}

/** Every stored entry of these providers, their rows locked until the transaction ends. */
export async function lockReputation(
  q: Queryable,
  addresses: readonly string[],
): Promise<Map<string, ReputationEntry>> {
  if (addresses.length === 0) return new Map();
  const rows = await q.query<{ address: string; score: number; epoch: number; updated_at_ms: number }>(
    `SELECT address, score, epoch, updated_at_ms FROM provider_reputation
     WHERE address = ANY($1::text[]) ORDER BY address FOR UPDATE`,
    [addresses],
  );
  return new Map(
    rows.map((r) => [
      r.address,
      { score: r.score, epoch: Number(r.epoch), updatedAtMs: Number(r.updated_at_ms) },
    ]),
  );
}

export async function saveReputation(q: Queryable, address: string, e: ReputationEntry): Promise<void> {
  await saveReputations(q, [{ address, entry: e }]);
}

/** Stores entries, each only over an older or equal epoch, in one statement. */
export async function saveReputations(
  q: Queryable,
  entries: readonly { address: string; entry: ReputationEntry }[],
): Promise<void> {
  if (entries.length === 0) return;
  await q.query(
    `INSERT INTO provider_reputation AS r (address, score, epoch, updated_at_ms)
     SELECT address, score, epoch, updated_at_ms
     FROM jsonb_to_recordset($1::jsonb) AS x(address text, score int, epoch bigint, updated_at_ms bigint)
     ON CONFLICT (address) DO UPDATE SET score = EXCLUDED.score, epoch = EXCLUDED.epoch,
       updated_at_ms = EXCLUDED.updated_at_ms
       WHERE r.epoch <= EXCLUDED.epoch`,
    [
      JSON.stringify(
        entries.map((e) => ({
          address: e.address,
          score: Math.round(e.entry.score),
          epoch: e.entry.epoch,
          updated_at_ms: e.entry.updatedAtMs,
        })),
      ),
    ],
  );
}

export async function forgetReputation(q: Queryable, olderThanMs: number): Promise<number> {
  const rows = await q.query(`DELETE FROM provider_reputation WHERE updated_at_ms < $1 RETURNING address`, [
    olderThanMs,
  ]);
  return rows.length;
}

export async function loadParams(q: Queryable): Promise<unknown> {
  const [row] = await q.query<{ params: unknown }>(`SELECT params FROM scheduler_params WHERE id = 1`);
  return row?.params;
}

export async function saveParams(
  q: Queryable,
  params: unknown,
  patch: unknown,
  actor: string,
  now: number,
): Promise<void> {
  await q.query(
    `INSERT INTO scheduler_params (id, params, updated_at_ms) VALUES (1, $1, $2)
     ON CONFLICT (id) DO UPDATE SET params = $1, updated_at_ms = $2`,
    [JSON.stringify(params), now],
  );
  await q.query(
    `INSERT INTO params_audit (changed_at_ms, changed_by, patch, params) VALUES ($1, $2, $3, $4)`,
    [now, actor, JSON.stringify(patch), JSON.stringify(params)],
  );
}

export async function logCancellations(
  q: Queryable,
  entries: readonly {
    job_id: string;
    task_id: string;
    reason: string;
    actor: string;
    provider: string | null;
  }[],
  now: number,
): Promise<void> {
  if (entries.length === 0) return;
  await q.query(
    `INSERT INTO cancellations (job_id, task_id, reason, actor, provider, created_at_ms)
     SELECT job_id, task_id, reason, actor, provider, $2
     FROM jsonb_to_recordset($1::jsonb) AS x(job_id uuid, task_id uuid, reason text, actor text, provider text)
     ON CONFLICT (job_id) WHERE reason <> 'preempted' DO NOTHING`,
    [JSON.stringify(entries), now],
  );
}
