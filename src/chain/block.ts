// Blocks as the CPC node builds them: the header hash, the tx_root, and reading a block's JSON
// (the node's `GET /block/{height}` body, or the dev chain's own) into a ChainBlock. The rules
// are the node's (ComputeChain `protocol/types/block.py`, `protocol/crypto/hash.py`) so a block
// of the dev chain and one of the real chain are checked the same way.

import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import type { SignedTx } from '../domain/chain-tx.js';
import { computeRoot } from '../domain/merkle.js';
import type { BlockHeader, ChainBlock } from './port.js';
import { decodeTx, txToWire, type WireTx } from './wire.js';

export const ZERO_HASH = '0'.repeat(64);

/** SHA-256 of the header fields concatenated as text, in the node's order. */
export function blockHash(h: BlockHeader): string {
  const preimage =
    String(h.height) +
    h.prev_hash +
    String(h.timestamp) +
    h.chain_id +
    h.proposer_address +
    String(h.round) +
    h.tx_root +
    h.state_root +
    h.compute_root +
    String(h.gas_used) +
    String(h.gas_limit);
  return bytesToHex(sha256(utf8ToBytes(preimage)));
}

/**
 * The node's merkle_root over tx hashes: parent = SHA-256(left || right), an odd level
 * duplicates its last node, one hash is its own root, and no hashes give 32 zero bytes.
 */
export function txRoot(txHashes: readonly string[]): string {
  if (txHashes.length === 0) return ZERO_HASH;
  let level: Uint8Array[] = txHashes.map((h) => hexToBytes(h));
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) {
      const left = level[i] as Uint8Array;
      next.push(sha256(concatBytes(left, level[i + 1] ?? left)));
    }
    level = next;
  }
  return bytesToHex(level[0] as Uint8Array);
}

/** compute_root of a block's transactions: its SUBMIT_RESULT results, in block order. */
export function blockComputeRoot(txs: readonly SignedTx[]): string {
  return computeRoot(txs.flatMap((tx) => (tx.tx_type === 'SUBMIT_RESULT' ? [tx.payload] : [])));
}

export interface BlockJson {
  hash: string;
  header: BlockHeader;
  txs: (WireTx | unknown)[];
}

/** The JSON the dev chain (and the market's API) shows for a block. */
export function blockToJson(b: ChainBlock): BlockJson {
  return { hash: b.hash, header: b.header, txs: [...b.txs.map(txToWire), ...b.other_txs] };
}

export type DecodedBlock = { ok: true; block: ChainBlock } | { ok: false; error: string };

/**
 * Reads a block from parsed JSON (use parseJsonExact on the text). The hash is recomputed from
 * the header, never trusted from the body. A block holds other senders' transactions of any
 * shape the chain takes: kinds the market does not send, and TRANSFERs or SUBMIT_RESULTs it
 * would not write (a TRANSFER with a payload, a cpcvalcons1… sender) go to other_txs as the node
 * gave them, and never make the block unreadable. A ComputeResult's unknown keys are dropped, as
 * the chain's model drops them before compute_root (such a transaction's txHash here is then not
 * the node's; the courier matches only its own transactions, which have none).
 */
export function decodeBlock(value: unknown): DecodedBlock {
  if (typeof value !== 'object' || value === null)
    return { ok: false, error: 'a block must be a JSON object' };
  const o = value as Record<string, unknown>;
  const h = o.header as Record<string, unknown> | undefined;
  if (typeof h !== 'object' || h === null) return { ok: false, error: 'block.header must be an object' };
  const text = (name: string, fallback?: string): string | undefined =>
    typeof h[name] === 'string' ? (h[name] as string) : fallback;
  const int = (name: string, fallback?: number): number | undefined => {
    const v = h[name] ?? fallback;
    return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
  };
  const header = {
    height: int('height'),
    prev_hash: text('prev_hash'),
    timestamp: int('timestamp'),
    chain_id: text('chain_id', ''),
    proposer_address: text('proposer_address', ''),
    round: int('round', 0),
    tx_root: text('tx_root'),
    state_root: text('state_root', ''),
    compute_root: text('compute_root', ''),
    gas_used: int('gas_used', 0),
    gas_limit: int('gas_limit', 0),
  };
  for (const [name, v] of Object.entries(header))
    if (v === undefined) return { ok: false, error: `block.header.${name} is missing or malformed` };
  if (!Array.isArray(o.txs)) return { ok: false, error: 'block.txs must be an array' };
  const txs: SignedTx[] = [];
  const other_txs: unknown[] = [];
  for (const raw of o.txs as unknown[]) {
    const type = (raw as { tx_type?: unknown } | null)?.tx_type;
    if (type !== 'TRANSFER' && type !== 'SUBMIT_RESULT') {
      other_txs.push(raw);
      continue;
    }
    const d = decodeTx(type === 'SUBMIT_RESULT' ? withResultFields(raw) : raw);
    if (d.ok) txs.push(d.tx);
    else other_txs.push(raw);
  }
  const full = header as BlockHeader;
  return { ok: true, block: { hash: blockHash(full), header: full, txs, other_txs } };
}

const RESULT_FIELDS = ['task_id', 'worker_address', 'result_hash', 'proof', 'nonce', 'signature'];

/** The transaction with its ComputeResult cut to the six fields the chain's model keeps. */
function withResultFields(raw: unknown): unknown {
  const o = raw as { payload?: unknown };
  const p = o.payload;
  if (typeof p !== 'object' || p === null || Array.isArray(p)) return raw;
  const kept = Object.fromEntries(Object.entries(p).filter(([k]) => RESULT_FIELDS.includes(k)));
  return { ...o, payload: kept };
}
