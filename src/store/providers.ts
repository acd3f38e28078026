// Providers (a worker's address and what its machine has) and their offers. Blobs are in
// src/store/blobs.ts (re-exported here for the modules that took them from this one).

import type { Queryable } from './db.js';

export async function upsertProvider(
  q: Queryable,
  p: { address: string; publicKey: string; capability: unknown },
  now: number,
): Promise<void> {
  await q.query(
    `INSERT INTO providers (address, public_key, capability, first_seen_ms, last_seen_ms) VALUES ($1, $2, $3, $4, $4)
     ON CONFLICT (address) DO UPDATE SET public_key = EXCLUDED.public_key, capability = EXCLUDED.capability, last_seen_ms = $4`,
    [p.address, p.publicKey, JSON.stringify(p.capability), now],
  );
}

/** What one commit adds to a provider's counters. */
export interface ProviderCounts {
  address: string;
  completed?: number;
  failed?: number;
  expired?: number;
  /** Verified results, their units and run time (ms). */
  verifiedJobs?: number;
  verifiedUnits?: number;
  verifiedMs?: number;
  /** Invalid-payload claims a standing result contradicted. */
  contradicted?: number;
}

/** Moves providers' job, verification and claim counters, all in one statement. */
export async function countProviderOutcomes(
  q: Queryable,
  deltas: readonly ProviderCounts[],
  nowMs: number,
): Promise<void> {
  const rows = counterRows(deltas);
  if (rows.length === 0) return;
  await q.query(
    `UPDATE providers p SET jobs_completed = p.jobs_completed + x.completed,
            jobs_failed = p.jobs_failed + x.failed, lease_expiries = p.lease_expiries + x.expired,
            verified_jobs = p.verified_jobs + x.vjobs, verified_units = p.verified_units + x.vunits,
            verified_ms = p.verified_ms + x.vms,
            last_verified_at_ms = CASE WHEN x.vjobs > 0 THEN $2 ELSE p.last_verified_at_ms END,
            contradicted_claims = p.contradicted_claims + x.contradicted
     FROM jsonb_to_recordset($1::jsonb)
          AS x(address text, completed int, failed int, expired int, vjobs int, vunits int8, vms int8, contradicted int)
     WHERE p.address = x.address`,
    [JSON.stringify(rows), nowMs],
  );
}

/** The counter moves as countProviderOutcomes (and the one-round-trip commit) writes them. */
export function counterRows(deltas: readonly ProviderCounts[]) {
  return deltas
    .map((d) => ({
      address: d.address,
      completed: d.completed ?? 0,
      failed: d.failed ?? 0,
      expired: d.expired ?? 0,
      vjobs: d.verifiedJobs ?? 0,
      vunits: d.verifiedUnits ?? 0,
      vms: d.verifiedMs ?? 0,
      contradicted: d.contradicted ?? 0,
    }))
    .filter((d) => d.completed + d.failed + d.expired + d.vjobs + d.contradicted > 0);
}

export interface OfferRow {
  offer_id: string;
  provider_address: string;
  units: number;
  price_per_unit: string;
  fee_pct_ct: number;
  capability: Record<string, unknown>;
  status: 'open' | 'closed';
  created_at_ms: number;
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
    `UPDATE offers SET status = 'closed', closed_at_ms = $2 WHERE provider_address = $1 AND status = 'open'`,
    [o.provider_address, o.created_at_ms],
  );
  await q.query(
    `INSERT INTO offers (offer_id, provider_address, units, price_per_unit, fee_pct_ct, capability, status, created_at_ms, node_id)
     VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8)`,
    [
      o.offer_id,
      o.provider_address,
      o.units,
      o.price_per_unit,
      o.fee_pct_ct,
      JSON.stringify(o.capability),
      o.created_at_ms,
      nodeId,
    ],
  );
}

export async function closeOffers(q: Queryable, address: string, now: number): Promise<void> {
  await q.query(
    `UPDATE offers SET status = 'closed', closed_at_ms = $2 WHERE provider_address = $1 AND status = 'open'`,
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
            o.status, o.created_at_ms, p.verified_jobs::int8 AS verified_jobs, p.verified_units::int8 AS verified_units,
            p.verified_ms::int8 AS verified_ms, p.fraud_at_ms IS NOT NULL AS fraud
     FROM offers o JOIN providers p ON p.address = o.provider_address
     WHERE o.status = 'open' ORDER BY o.price_per_unit, o.created_at_ms, o.offer_id LIMIT $1 OFFSET $2`,
    [limit, offset],
  );
  return { rows, total: count?.n ?? 0 };
}

export { blobSizes, getBlob, putBlob } from './blobs.js';
