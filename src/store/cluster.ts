// What nodes sharing one database know of each other: who is alive (by the database's clock),
// the capacity the other nodes' workers offer, and when the scheduler parameters last changed.

import type { Queryable } from './db.js';

/** The database's clock in milliseconds: one clock for every node. */
const DB_NOW_MS = `(extract(epoch FROM clock_timestamp()) * 1000)::bigint`;

export async function nodeAlive(q: Queryable, nodeId: string): Promise<void> {
  await q.query(
    `INSERT INTO market_nodes (node_id, started_at_ms, seen_at_ms) VALUES ($1, ${DB_NOW_MS}, ${DB_NOW_MS})
     ON CONFLICT (node_id) DO UPDATE SET seen_at_ms = EXCLUDED.seen_at_ms`,
    [nodeId],
  );
}

export async function nodeGone(q: Queryable, nodeId: string): Promise<void> {
  await q.query(`DELETE FROM admission_usage WHERE node_id = $1`, [nodeId]);
  await q.query(`DELETE FROM market_nodes WHERE node_id = $1`, [nodeId]);
}

/** The longest-running node seen within `freshMs` (ties: the lowest id): the cluster's leader. */
export async function leaderNode(q: Queryable, freshMs: number): Promise<string | undefined> {
  const [row] = await q.query<{ node_id: string }>(
    `SELECT node_id FROM market_nodes WHERE seen_at_ms > ${DB_NOW_MS} - $1
     ORDER BY started_at_ms, node_id LIMIT 1`,
    [freshMs],
  );
  return row?.node_id;
}

/** Units offered through the other nodes seen within `freshMs`. */
/** The open offers of the other live nodes' providers, with what each provider has shown. */
export async function otherNodesOffers(
  q: Queryable,
  nodeId: string,
  freshMs: number,
): Promise<
  { units: number; verified_jobs: number; verified_units: number; verified_ms: number; fraud: boolean }[]
> {
  return q.query(
    `SELECT o.units::int8 AS units, p.verified_jobs::int8 AS verified_jobs, p.verified_units::int8 AS verified_units,
            p.verified_ms::int8 AS verified_ms, p.fraud_at_ms IS NOT NULL AS fraud
     FROM offers o JOIN market_nodes n USING (node_id) JOIN providers p ON p.address = o.provider_address
     WHERE o.status = 'open' AND n.node_id <> $1 AND n.seen_at_ms > ${DB_NOW_MS} - $2`,
    [nodeId, freshMs],
  );
}

/** Closes offers left open by nodes not seen for `staleMs` (they stopped without closing them). */
export async function closeStaleOffers(q: Queryable, staleMs: number, nowMs: number): Promise<number> {
  const rows = await q.query(
    `UPDATE offers SET status = 'closed', closed_at_ms = $2
     WHERE status = 'open' AND node_id IS NOT NULL AND node_id NOT IN (
       SELECT node_id FROM market_nodes WHERE seen_at_ms > ${DB_NOW_MS} - $1)
     RETURNING offer_id`,
    [staleMs, nowMs],
  );
  return rows.length;
}

/** When the stored scheduler parameters last changed (a version every node can compare), or null. */
export async function paramsVersion(q: Queryable): Promise<string | null> {
  const [row] = await q.query<{ v: string }>(
    `SELECT updated_at_ms::text || ':' || md5(params::text) AS v FROM scheduler_params WHERE id = 1`,
  );
  return row?.v ?? null;
}

export interface UsageRecord {
  kind: 'buyer' | 'provider';
  party: string;
  usage: { usage: number; burst: number; atMs: number };
}

/** Replaces this node's reported usage records with these. */
export async function reportUsage(
  q: Queryable,
  nodeId: string,
  records: readonly UsageRecord[],
): Promise<void> {
  await q.query(`DELETE FROM admission_usage WHERE node_id = $1`, [nodeId]);
  if (records.length === 0) return;
  await q.query(
    `INSERT INTO admission_usage (node_id, kind, party, usage, at_ms)
     SELECT $1, kind, party, usage, at_ms
     FROM jsonb_to_recordset($2::jsonb) AS x(kind text, party text, usage float8, at_ms bigint)`,
    [
      nodeId,
      JSON.stringify(
        records.map((r) => ({ kind: r.kind, party: r.party, usage: r.usage.usage, at_ms: r.usage.atMs })),
      ),
    ],
  );
}

/** Usage records the other live nodes reported. */
export async function othersUsage(q: Queryable, nodeId: string, freshMs: number): Promise<UsageRecord[]> {
  const rows = await q.query<{ kind: 'buyer' | 'provider'; party: string; usage: number; at_ms: number }>(
    `SELECT u.kind, u.party, u.usage, u.at_ms FROM admission_usage u JOIN market_nodes n USING (node_id)
     WHERE u.node_id <> $1 AND n.seen_at_ms > ${DB_NOW_MS} - $2`,
    [nodeId, freshMs],
  );
  return rows.map((r) => ({
    kind: r.kind,
    party: r.party,
    usage: { usage: Number(r.usage), burst: 0, atMs: Number(r.at_ms) },
  }));
}
