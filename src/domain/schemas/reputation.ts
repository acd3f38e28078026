// The reputation gossip message (spec "Reputation Gossip"): (provider_id, reputation_score, epoch)
// tuples, as `reputation.snapshot` returns them and `reputation.gossip` takes them.

import { Type, type Static } from '@sinclair/typebox';
import { Strict } from './common.js';

/** One message carries at most this many entries; a sender splits a bigger snapshot. */
export const MAX_GOSSIP_ENTRIES = 10_000;

export const GossipEntry = Strict({
  provider_id: Type.String({ minLength: 1, maxLength: 100, description: 'provider address (cpc1…)' }),
  // Any finite number passes the schema: a score outside [-1000, 1000] or not whole is a valid
  // message the merge rule ignores (and counts), not a malformed one.
  reputation_score: Type.Number({ description: 'whole number in [-1000, 1000]; others are ignored' }),
  epoch: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
});
export type GossipEntry = Static<typeof GossipEntry>;

export const GossipParams = Strict({
  entries: Type.Array(GossipEntry, { maxItems: MAX_GOSSIP_ENTRIES }),
});
export type GossipParams = Static<typeof GossipParams>;

export const SyncParams = Strict({
  peers: Type.Optional(
    Type.Array(Type.String({ pattern: '^https?://[^\\s,]+$', maxLength: 2000 }), {
      minItems: 1,
      maxItems: 100,
    }),
  ),
});
export type SyncParams = Static<typeof SyncParams>;
