// Providers (a worker's address and what its machine has), their offers, and blobs.

import type { Queryable } from './db.js';

export async function upsertProvider(
  q: Queryable,
  p: { address: string; publicKey: string; capability: unknown },
  now: number,
): Promise<void> {
  await q.query(
    `INSERT INTO providers (address, public_key, capability, first_seen, last_seen) VALUES ($1, $2, $3, $4, $4)
     ON CONFLICT (address) DO UPDATE SET public_key = EXCLUDED.public_key, capability = EXCLUDED.capability, last_seen = $4`,
    [p.address, p.publicKey, JSON.stringify(p.capability), now],
  );
}

/** Moves providers' job counters, all in one statement. */
export async function countProviderOutcomes(
  q: Queryable,
  deltas: readonly { address: string; completed?: number; failed?: number; expired?: number }[],
): Promise<void> {
  const moved = deltas.filter((d) => (d.completed ?? 0) + (d.failed ?? 0) + (d.expired ?? 0) > 0);
  if (moved.length === 0) return;
  await q.query(
    `UPDATE providers p SET jobs_completed = p.jobs_completed + x.completed,
            jobs_failed = p.jobs_failed + x.failed, lease_expiries = p.lease_expiries + x.expired
     FROM jsonb_to_recordset($1::jsonb) AS x(address text, completed int, failed int, expired int)
     WHERE p.address = x.address`,
    [
      JSON.stringify(
        moved.map((d) => ({
          address: d.address,
          completed: d.completed ?? 0,
          failed: d.failed ?? 0,
          expired: d.expired ?? 0,
        })),
      ),
    ],
  );
}

export interface OfferRow {
  offer_id: string;
  provider_address: string;
  units: number;
  price_per_unit: string;
  fee_pct_ct: number;
  capability: Record<string, unknown>;
  status: 'open' | 'closed';
  created_at: number;
}

/** An open offer with what its provider has shown of its work (src/domain/verification.ts). */
export interface OpenOfferRow extends OfferRow {
  verified_jobs: number;
  verified_units: number;
  verified_ms: number;
  fraud: boolean;
}

/** A provider has one open offer: posting a new one closes the previous. `nodeId`: the market node it came through. */
export async function openOffer(
  q: Queryable,
  o: Omit<OfferRow, 'status'>,
  nodeId: string | null = null,
): Promise<void> {
  await q.query(
    `UPDATE offers SET status = 'closed', closed_at = $2 WHERE provider_address = $1 AND status = 'open'`,
    [o.provider_address, o.created_at],
  );
  await q.query(
    `INSERT INTO offers (offer_id, provider_address, units, price_per_unit, fee_pct_ct, capability, status, created_at, node_id)
     VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8)`,
    [
      o.offer_id,
      o.provider_address,
      o.units,
      o.price_per_unit,
      o.fee_pct_ct,
      JSON.stringify(o.capability),
      o.created_at,
      nodeId,
    ],
  );
}

export async function closeOffers(q: Queryable, address: string, now: number): Promise<void> {
  await q.query(
    `UPDATE offers SET status = 'closed', closed_at = $2 WHERE provider_address = $1 AND status = 'open'`,
    [address, now],
  );
}

export async function listOpenOffers(
  q: Queryable,
  limit: number,
  offset: number,
): Promise<{ rows: OpenOfferRow[]; total: number }> {
  const [count] = await q.query<{ n: number }>(
    `SELECT count(*)::int8 AS n FROM offers WHERE status = 'open'`,
  );
  const rows = await q.query<OpenOfferRow & Record<string, unknown>>(
    `SELECT o.offer_id, o.provider_address, o.units, o.price_per_unit::text AS price_per_unit, o.fee_pct_ct, o.capability,
            o.status, o.created_at, p.verified_jobs::int8 AS verified_jobs, p.verified_units::int8 AS verified_units,
            p.verified_ms::int8 AS verified_ms, p.fraud_at_ms IS NOT NULL AS fraud
     FROM offers o JOIN providers p ON p.address = o.provider_address
     WHERE o.status = 'open' ORDER BY o.price_per_unit, o.created_at, o.offer_id LIMIT $1 OFFSET $2`,
    [limit, offset],
  );
  return { rows, total: count?.n ?? 0 };
}

export async function putBlob(
  q: Queryable,
  hash: string,
  data: Uint8Array,
  owner: string | null,
  now: number,
): Promise<void> {
  await q.query(
    `INSERT INTO blobs (hash, size, data, owner_account, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (hash) DO NOTHING`,
    [hash, data.byteLength, data, owner, now],
  );
}

export async function getBlob(q: Queryable, hash: string): Promise<Uint8Array | undefined> {
  const rows = await q.query<{ data: Uint8Array }>(`SELECT data FROM blobs WHERE hash = $1`, [hash]);
  return rows[0]?.data;
}

export async function blobSizes(q: Queryable, hashes: readonly string[]): Promise<Map<string, number>> {
  if (hashes.length === 0) return new Map();
  const rows = await q.query<{ hash: string; size: number }>(
    `SELECT hash, size FROM blobs WHERE hash IN (SELECT value FROM jsonb_array_elements_text($1::jsonb))`,
    [JSON.stringify(hashes)],
  );
  return new Map(rows.map((r) => [r.hash, r.size]));
}
