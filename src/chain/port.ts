// The L1 port: what the market needs from the CPC chain, whatever carries it (the embedded dev
// chain, or the CPC node's HTTP API). Submitting never throws: every failure comes back as a
// value that says whether sending the same transaction again can help, so the courier can
// decide between backing off and giving up without parsing messages.
//
// "Accepted" means the node took the transaction into its pool, never that a block holds it:
// inclusion is learned from blocks (getBlock) and from the sender's nonce (account). A refusal
// that may mean "a block already holds it" (nonce_too_low, insufficient_balance, an HTTP 400 that
// can follow a pool add) says so in `mayBeIncluded`: the courier then looks for the transaction
// in the blocks instead of taking the refusal at its word.

import type { SignedTx } from '../domain/chain-tx.js';

export type SubmitOutcome =
  | {
      accepted: true;
      /** The transaction's hash (txHash of chain-tx.ts), the courier's deduplication key. */
      txHash: string;
      /** The block holding it, when the chain already knows (a duplicate of an included tx). */
      height?: number;
      /** True when the chain already had this exact transaction: accepted idempotently. */
      duplicate?: boolean;
    }
  | {
      accepted: false;
      /** True when the same transaction may succeed later (chain down, overloaded, timeout). */
      retryable: boolean;
      /** True when the answer may mean the chain already has it (pool or block): look, never undo. */
      mayBeIncluded?: boolean;
      error: string;
    };

/** A sender's account as the chain sees it. */
export interface ChainAccount {
  /** The next nonce a block will take from this sender (its included transactions count). */
  nonce: number;
  /** The next nonce after the ones waiting in the pool in sequence (>= nonce). */
  pendingNonce: number;
  /** Base units; undefined where the chain keeps no balances (the dev chain). */
  balance?: bigint;
}

/**
 * A block header as the CPC node defines it (ComputeChain `protocol/types/block.py`). The block
 * hash covers the header only, so the header alone identifies the block.
 */
export interface BlockHeader {
  height: number;
  /** Lowercase hex hash of the previous block; 64 zeros for the first block. */
  prev_hash: string;
  /** Unix seconds. */
  timestamp: number;
  chain_id: string;
  proposer_address: string;
  round: number;
  /** Merkle root (SHA-256, odd level duplicates its last) of the tx hashes; 32 zero bytes if none. */
  tx_root: string;
  state_root: string;
  /** computeRoot of the block's SUBMIT_RESULT ComputeResults; '' when there are none. */
  compute_root: string;
  gas_used: number;
  gas_limit: number;
}

export interface ChainBlock {
  hash: string;
  header: BlockHeader;
  /** The block's TRANSFER and SUBMIT_RESULT transactions, in block order. */
  txs: SignedTx[];
  /** Transactions of kinds the market does not send (STAKE, …), kept as the node gave them. */
  other_txs: unknown[];
}

export interface ChainHead {
  height: number;
  hash: string;
}

export interface ChainPort {
  submit(tx: SignedTx): Promise<SubmitOutcome>;
  /** The block at `height`, or undefined when the chain has none there (yet). */
  getBlock(height: number): Promise<ChainBlock | undefined>;
  head(): Promise<ChainHead>;
  /** The sender's nonces (and balance, where the chain keeps one). Throws ChainError. */
  account(address: string): Promise<ChainAccount>;
  close(): Promise<void>;
}

/** A read (getBlock, head) that failed; `retryable` as in SubmitOutcome. */
export class ChainError extends Error {
  readonly retryable: boolean;

  constructor(message: string, retryable: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ChainError';
    this.retryable = retryable;
  }
}
