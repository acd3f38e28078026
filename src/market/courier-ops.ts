// The courier as the operator sees it through the API: the outbox by status with the entries held
// for a decision, and the operator's decision on a held entry (it landed, or send the same bytes
// again; never a new nonce).

import { MarketError } from '../domain/errors.js';
import {
  countOutboxByStatus,
  getOutboxById,
  heldEntries,
  markResend,
  resolveLanded,
} from '../store/outbox.js';
import type { ChainLink } from './chain-link.js';
import type { Market } from './market.js';

export async function courierStatus(market: Market, link: ChainLink) {
  const held = await heldEntries(market.db);
  return {
    chain: link.name,
    sender: link.outbox.sender,
    outbox: await countOutboxByStatus(market.db),
    held: held.map((r) => ({
      id: r.id,
      kind: r.kind,
      nonce: r.nonce,
      tx_hash: r.tx_hash,
      dedup_key: r.dedup_key,
      reason: r.last_error,
    })),
  };
}

export async function resolveHeldEntry(
  market: Market,
  id: number,
  outcome: 'landed' | 'resend',
): Promise<{ id: number; status: string | undefined }> {
  const row = await getOutboxById(market.db, id);
  if (!row) throw new MarketError('not_found', `no outbox entry ${id}`);
  if (row.status !== 'held' || row.tx_hash === null)
    throw new MarketError('conflict', `outbox entry ${id} is ${row.status}, not held`);
  const now = market.clock.nowMs();
  // --landed: the operator saw it on chain. --resend: the same bytes go again (never a new
  // nonce), so a node that has it answers nonce_too_low and it is looked for once more.
  const changed =
    outcome === 'landed'
      ? await resolveLanded(market.db, id, now)
      : await markResend(market.db, id, row.tx_hash, now, 'the operator asked to send it again');
  if (changed === 0) throw new MarketError('conflict', `outbox entry ${id} is no longer held`);
  const after = await getOutboxById(market.db, id);
  return { id, status: after?.status };
}
