// Bid commit–reveal (spec compute-market.md, "Bid Commit–Reveal"): an industrial bid is first
// published as a commitment `h` only, carried on chain in a BidTx; no sooner than two blocks after
// the block holding it, the bidder reveals (salt, state) and the market verifies h against them
// before the bid can be executed (its task created and scheduled).
//
// The spec's h is a post-quantum blind signature. This market uses a hash commitment instead
// (docs/decisions.md, "Bid commit–reveal"):
//
//   h = SHA-256( "taskmarket-bid-v1" ‖ 0x0a ‖ salt ‖ 0x0a ‖ canonical(state) )
//
// salt: 32 random bytes as 64 lowercase hex characters (hiding: without the salt, h says nothing
// about a state from a small set, a price say); canonical(state): Python's
// json.dumps(state, sort_keys=True, separators=(",", ":"), ensure_ascii=True), the form the CPC
// chain hashes payloads in (pythonJson), so anyone can recompute h in a few lines. Binding rests
// on SHA-256's collision resistance; who committed is the authenticated account that sent h, and
// the BidTx is signed by the market's chain key (the node verifies that signature on inclusion).

import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { pythonJson } from './chain-tx.js';

/** Blocks that must follow the block holding the commitment before a reveal is taken. */
export const BID_REVEAL_BLOCKS = 2;
export const BID_COMMIT_TAG = 'taskmarket-bid-v1';
export const HEX64 = /^[0-9a-f]{64}$/;

/** The commitment to `state` under `salt` (64 lowercase hex). */
export function bidCommitment(salt: string, state: unknown): string {
  return bytesToHex(sha256(utf8ToBytes(`${BID_COMMIT_TAG}\n${salt}\n${pythonJson(state)}`)));
}

export const bidDedupKey = (bidId: string): string => `bid:${bidId}`;

export interface RevealFacts {
  commitment: string;
  /** The height of the block holding the BidTx; undefined while no block holds it. */
  commitHeight: number | undefined;
  /** The chain head now. */
  headHeight: number;
  salt: string;
  state: unknown;
}

export type RevealVerdict =
  | { ok: true }
  | { ok: false; code: 'reveal_too_early'; message: string; revealFrom?: number }
  | { ok: false; code: 'commitment_mismatch'; message: string };

/** Whether a reveal is taken: the commitment in a block at least two blocks deep, and matching. */
export function checkReveal(f: RevealFacts): RevealVerdict {
  if (f.commitHeight === undefined)
    return { ok: false, code: 'reveal_too_early', message: 'the commitment is not in a block yet' };
  const revealFrom = f.commitHeight + BID_REVEAL_BLOCKS;
  if (f.headHeight < revealFrom)
    return {
      ok: false,
      code: 'reveal_too_early',
      message: `the commitment is in block ${f.commitHeight}: reveal from block ${revealFrom} (the head is ${f.headHeight})`,
      revealFrom,
    };
  let h: string;
  try {
    h = bidCommitment(f.salt, f.state);
  } catch (err) {
    return {
      ok: false,
      code: 'commitment_mismatch',
      message: `the state cannot be hashed: ${(err as Error).message}`,
    };
  }
  if (h !== f.commitment)
    return {
      ok: false,
      code: 'commitment_mismatch',
      message: 'SHA-256(tag, salt, canonical state) is not the committed hash',
    };
  return { ok: true };
}
