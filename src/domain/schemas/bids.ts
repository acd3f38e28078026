// Bid commit–reveal shapes (spec compute-market.md "Bid Commit–Reveal"; domain/bid-commit.ts).

import { Type, type Static } from '@sinclair/typebox';
import { Nullable, Strict, UnixSeconds, Uuid } from './common.js';
import { CreateTaskBody } from './tasks.js';

const Hex64 = (description: string) => Type.String({ pattern: '^[0-9a-f]{64}$', description });

export const CommitBidBody = Strict({
  commitment: Hex64(
    'SHA-256 of "taskmarket-bid-v1\\n" + salt + "\\n" + the task body as Python json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=True)',
  ),
});
export type CommitBidBody = Static<typeof CommitBidBody>;

export const RevealBidBody = Strict({
  salt: Hex64('the 32 random bytes the commitment was made with, 64 lowercase hex'),
  task: CreateTaskBody,
});
export type RevealBidBody = Static<typeof RevealBidBody>;

export const BidIdParams = Strict({ bid_id: Uuid });

export const BidView = Type.Object({
  bid_id: Uuid,
  commitment: Type.String(),
  status: Type.Union([Type.Literal('committed'), Type.Literal('revealed')]),
  commit_tx_status: Nullable(
    Type.String({ description: "the BidTx's outbox status: pending, sent, included, final" }),
  ),
  commit_tx_hash: Nullable(Type.String()),
  commit_height: Nullable(Type.Integer({ description: 'the block holding the BidTx' })),
  reveal_from: Nullable(Type.Integer({ description: 'the first chain head height a reveal is taken at' })),
  task_id: Nullable(Uuid),
  created_at: UnixSeconds,
});
