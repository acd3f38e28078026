// The reputation gossip RPC methods (spec "Reputation Gossip"), mounted on POST /rpc:
// reputation.gossip (a peer's entries in), reputation.snapshot (this node's entries out) and
// reputation.sync (send the snapshot to peers now). All three are the operator's; a peer market
// may also call reputation.gossip with the shared peer_key and nothing else.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { ValidateFunction } from 'ajv';
import { MarketError, validationError } from '../../domain/errors.js';
import { GossipParams, SyncParams } from '../../domain/schemas/reputation.js';
import type { Market } from '../../market/market.js';
import type { Principal } from '../../market/tasks.js';
import { badProviderIds } from '../../market/reputation-gossip.js';
import { fieldProblems, strictAjv } from '../validation.js';

type Method = (market: Market, principal: Principal, params: Record<string, unknown>) => Promise<unknown>;

const checkGossip = strictAjv.compile<GossipParams>(GossipParams);
const checkSync = strictAjv.compile<SyncParams>(SyncParams);

function validated<T>(check: ValidateFunction<T>, params: Record<string, unknown>): T {
  if (!check(params))
    throw validationError(
      fieldProblems(check.errors ?? [], 'body').map((p) => ({ ...p, path: `/params${p.path}` })),
    );
  return params;
}

function operatorOnly(principal: Principal, what: string): void {
  if (principal.kind !== 'operator') throw new MarketError('forbidden', `only the operator ${what}`);
}

export const REPUTATION_METHODS: Record<string, Method> = {
  async 'reputation.gossip'(market, principal, params) {
    operatorOnly(principal, 'or a peer (peer_key) sends reputation gossip');
    market.gossip.assertEnabled();
    const { entries } = validated(checkGossip, params);
    const bad = badProviderIds(entries);
    if (bad.length > 0)
      throw validationError(
        bad
          .slice(0, 10)
          .map((i) => ({ path: `/params/entries/${i}/provider_id`, message: 'must be a provider address' })),
      );
    return market.gossip.receive(entries);
  },

  async 'reputation.snapshot'(market, principal) {
    operatorOnly(principal, 'reads the reputation snapshot');
    return { entries: await market.gossip.snapshot() };
  },

  async 'reputation.sync'(market, principal, params) {
    operatorOnly(principal, 'starts a gossip round');
    const { peers } = validated(checkSync, params);
    const results = await market.gossip.sync(peers);
    if (Object.keys(results).length === 0)
      throw new MarketError('validation_error', 'no peers: give params.peers or set `peers` in the config');
    return { peers: results };
  },
};

/** Methods a peer may call with the peer_key, which otherwise grants nothing. */
export const PEER_METHODS: ReadonlySet<string> = new Set(['reputation.gossip']);

/** Whether the Authorization header carries this node's peer_key (never when none is set). */
export function peerKeyMatches(peerKey: string, authorization: string | undefined): boolean {
  if (peerKey === '' || !authorization?.startsWith('Bearer ')) return false;
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(authorization.slice('Bearer '.length)), digest(peerKey));
}
