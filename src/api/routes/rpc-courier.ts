// The courier and chain RPC methods, mounted on POST /rpc: compute.courier_send (queue a carried
// bundle's receipt), compute.courier_flush (deliver everything pending now), compute.courier_status
// (outbox counts and held entries), compute.courier_resolve (the operator settles a held entry),
// chain.head and chain.block (inspect the chain, the dev chain included).

import { blockToJson } from '../../chain/block.js';
import { ChainError } from '../../chain/port.js';
import { MarketError, validationError } from '../../domain/errors.js';
import type { ChainLink } from '../../market/chain-link.js';
import type { Market } from '../../market/market.js';
import type { Principal } from '../../market/tasks.js';
import { courierStatus, resolveHeldEntry } from '../../market/courier-ops.js';
import { outboxByStatus } from '../../market/queries.js';

type Method = (market: Market, principal: Principal, params: Record<string, unknown>) => Promise<unknown>;

const HASH = /^[0-9a-f]{64}$/;
/** A sender is who carried the bundle: a cpc1… address or a name, printable ASCII. */
const SENDER = /^[\x21-\x7e]{1,128}$/;

function linkOf(market: Market): ChainLink {
  if (!market.chainLink) throw new MarketError('unavailable', 'no chain is configured (chain = "off")');
  return market.chainLink;
}

function operatorOnly(principal: Principal, what: string): void {
  if (principal.kind !== 'operator') throw new MarketError('forbidden', `only the operator ${what}`);
}

/** Chain reads fail as ChainErrors; a retryable one is the chain being unavailable. */
async function read<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ChainError)
      throw new MarketError(err.retryable ? 'unavailable' : 'internal', err.message);
    throw err;
  }
}

export const COURIER_METHODS: Record<string, Method> = {
  async 'compute.courier_send'(market, principal, params) {
    operatorOnly(principal, 'queues courier receipts');
    const { bundle_hash: hash, sender } = params;
    if (typeof hash !== 'string' || !HASH.test(hash))
      throw validationError([
        { path: '/params/bundle_hash', message: 'must be a BLAKE3 hash, 64 lowercase hex' },
      ]);
    if (typeof sender !== 'string' || !SENDER.test(sender))
      throw validationError([
        { path: '/params/sender', message: 'must be 1 to 128 printable ASCII characters' },
      ]);
    const row = await linkOf(market).outbox.queueBundle(market.db, hash, sender);
    return {
      id: row.id,
      dedup_key: row.dedup_key,
      tx_hash: row.tx_hash,
      nonce: row.nonce,
      status: row.status,
    };
  },

  async 'compute.courier_flush'(market, principal) {
    operatorOnly(principal, 'flushes the courier');
    const link = linkOf(market);
    const payouts = await link.flushPayouts();
    const report = await link.courier.flush({ force: true });
    const counts = await outboxByStatus(market);
    return { ...report, payout_transfers_queued: payouts, pending: counts.pending };
  },

  async 'compute.courier_status'(market) {
    const link = linkOf(market);
    return courierStatus(market, link);
  },

  async 'compute.courier_resolve'(market, principal, params) {
    operatorOnly(principal, 'resolves held outbox entries');
    const { id, outcome } = params;
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0)
      throw validationError([{ path: '/params/id', message: 'must be an outbox entry id' }]);
    if (outcome !== 'landed' && outcome !== 'resend')
      throw validationError([{ path: '/params/outcome', message: 'must be "landed" or "resend"' }]);
    linkOf(market);
    return resolveHeldEntry(market, id, outcome);
  },

  async 'chain.head'(market) {
    const link = linkOf(market);
    return read(() => link.port.head());
  },

  async 'chain.block'(market, _principal, params) {
    const height = params.height;
    if (typeof height !== 'number' || !Number.isSafeInteger(height) || height < 0)
      throw validationError([{ path: '/params/height', message: 'must be a non-negative integer' }]);
    const link = linkOf(market);
    const block = await read(() => link.port.getBlock(height));
    if (!block) throw new MarketError('not_found', `the chain has no block ${height}`);
    return blockToJson(block);
  },
};
