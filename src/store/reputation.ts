// Reputation gossip's queries: every stored entry at once (the snapshot peers receive) and the
// conditional upsert that applies peers' scores. Single-entry reads and writes stay in scheduler.ts.

import type { ReputationEntry } from '../domain/reputation.js';
import type { Queryable } from './db.js';

export interface StoredReputation {
  address: string;
  entry: ReputationEntry;
}

export async function listReputation(q: Queryable): Promise<StoredReputation[]> {
  const rows = await q.query<{ address: string; score: number; epoch: number; updated_at_ms: number }>(
    `SELECT address, score, epoch, updated_at_ms FROM provider_reputation ORDER BY address`,
  );
  return rows.map((r) => ({
    address: r.address,
    entry: { score: r.score, epoch: Number(r.epoch), updatedAtMs: Number(r.updated_at_ms) },
  }));
}

export async function loadReputations(
  q: Queryable,
  addresses: readonly string[],
): Promise<Map<string, ReputationEntry>> {
  if (addresses.length === 0) return new Map();
  const rows = await q.query<{ address: string; score: number; epoch: number; updated_at_ms: number }>(
    `SELECT address, score, epoch, updated_at_ms FROM provider_reputation WHERE address IN (SELECT jsonb_array_elements_text($1::jsonb))`,
    [JSON.stringify(addresses)],
  );
  return new Map(
    rows.map((r) => [
      r.address,
      { score: r.score, epoch: Number(r.epoch), updatedAtMs: Number(r.updated_at_ms) },
    ]),
  );
}

/**
 * Stores gossiped entries (one per address) only where the stored epoch is still lower, so a local
 * change or another peer's message that landed since the entries were merged is never overwritten.
 * Returns the addresses actually written.
 */
export async function saveGossipedReputation(
  q: Queryable,
  entries: readonly StoredReputation[],
): Promise<Set<string>> {
  if (entries.length === 0) return new Set();
  const rows = await q.query<{ address: string }>(
    `INSERT INTO provider_reputation (address, score, epoch, updated_at_ms)
     SELECT address, score, epoch, updated_at_ms
     FROM jsonb_to_recordset($1::jsonb) AS x(address text, score int, epoch bigint, updated_at_ms bigint)
     ON CONFLICT (address) DO UPDATE
       SET score = EXCLUDED.score, epoch = EXCLUDED.epoch, updated_at_ms = EXCLUDED.updated_at_ms
       WHERE provider_reputation.epoch < EXCLUDED.epoch
     RETURNING address`,
    [
      JSON.stringify(
        entries.map((e) => ({
          address: e.address,
          score: e.entry.score,
          epoch: e.entry.epoch,
          updated_at_ms: e.entry.updatedAtMs,
        })),
      ),
    ],
  );
  return new Set(rows.map((r) => r.address));
}
