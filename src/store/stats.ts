// Aggregates for the compute-market RPC methods: queue depths and the industrial lane's demand.

import type { Queryable } from './db.js';

export async function queueDepths(q: Queryable): Promise<Record<'low' | 'normal' | 'high', number>> {
  const rows = await q.query<{ priority: 'low' | 'normal' | 'high'; n: number }>(
    `SELECT priority, count(*)::int8 AS n FROM jobs WHERE status = 'queued' GROUP BY priority`,
  );
  const out = { low: 0, normal: 0, high: 0 };
  for (const r of rows) out[r.priority] = r.n;
  return out;
}

/** Queued units, units completed, and the latest price, over the given (industrial) types. */
export async function laneDemand(
  q: Queryable,
  types: readonly string[],
): Promise<{ backlog: number; unitsTotal: number; lastPrice: string | null }> {
  const [row] = await q.query<{ backlog: number; units_total: number }>(
    `SELECT coalesce(sum(units) FILTER (WHERE status = 'queued'), 0)::int8 AS backlog,
            coalesce(sum(units) FILTER (WHERE status = 'completed'), 0)::int8 AS units_total
     FROM jobs WHERE challenge_type IN (SELECT value FROM jsonb_array_elements_text($1::jsonb))`,
    [JSON.stringify(types)],
  );
  const [offer] = await q.query<{ price: string }>(
    `SELECT price_per_unit::text AS price FROM offers ORDER BY created_at_ms DESC LIMIT 1`,
  );
  return { backlog: row?.backlog ?? 0, unitsTotal: row?.units_total ?? 0, lastPrice: offer?.price ?? null };
}

/** Queued jobs by challenge type: the lanes' mempool sizes, whatever the lane map says now. */
export async function queuedByType(q: Queryable): Promise<Map<string, number>> {
  const rows = await q.query<{ challenge_type: string; n: number }>(
    `SELECT challenge_type, count(*)::int8 AS n FROM jobs WHERE status = 'queued' GROUP BY challenge_type`,
  );
  return new Map(rows.map((r) => [r.challenge_type, Number(r.n)]));
}

/** Leased (running) jobs by challenge type: what the providers work on now, across every node. */
export async function leasedByType(q: Queryable): Promise<Map<string, number>> {
  const rows = await q.query<{ challenge_type: string; n: number }>(
    `SELECT challenge_type, count(*)::int8 AS n FROM jobs WHERE status = 'leased' GROUP BY challenge_type`,
  );
  return new Map(rows.map((r) => [r.challenge_type, Number(r.n)]));
}
