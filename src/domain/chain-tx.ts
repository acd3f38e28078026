// The CPC chain transactions the market sends (TRANSFER payouts, SUBMIT_RESULT results): their
// shape, hash, signature and wire form, and how pending worker payouts become TRANSFERs.
//
// Everything here follows the CPC node (ComputeChain `protocol/types/tx.py`, `mempool.py`) so that
// the dev chain and the real node agree on every hash and signature:
// - Hash: SHA-256 (lowercase hex) of the UTF-8 string tx_type + from_address + (to_address or "")
//   + amount + fee + nonce + gas_price + gas_limit + payload JSON + pub_key, integers in decimal
//   and the payload as Python's json.dumps(sort_keys=True, separators=(",", ":"),
//   ensure_ascii=True). `timestamp` and `signature` are not hashed, so re-sending or re-signing
//   a transaction keeps its hash: the courier deduplicates by it and the node's mempool refuses
//   a second copy as `already_in_pool`.
// - Signature: ECDSA secp256k1 over that SHA-256 digest, compact r||s; the market signs low-S,
//   and takes high-S from others as the node does. signMessage signs SHA-256 of its message, so
//   signing the preimage string signs exactly the hash.
// - Amounts and fees are bigint base units (wei, 18 decimals); on the wire they are decimal
//   integer strings of base units (the node's RPC convention), never "10.5"-style decimals.

import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { addressFromPublicKey, isValidAddress, verifySignature } from './identity.js';
import type { ComputeResult } from './merkle.js';
import { MAX_AMOUNT } from './money.js';
import { SigningKey } from './signing-key.js';

export const TX_TYPES = ['TRANSFER', 'SUBMIT_RESULT'] as const;
export type TxType = (typeof TX_TYPES)[number];

/** The node's minimum gas per transaction type; fee must be at least base gas × gas_price. */
export const BASE_GAS: Readonly<Record<TxType, number>> = Object.freeze({
  TRANSFER: 21_000,
  SUBMIT_RESULT: 80_000,
});
/** The devnet's minimum gas price (wei per gas). */
export const DEFAULT_GAS_PRICE = 1000;

interface TxCommon {
  from_address: string;
  nonce: number;
  fee: bigint;
  gas_price: number;
  gas_limit: number;
  /** Unix seconds. Not hashed or signed (the chain's rule): informational only. */
  timestamp: number;
  /** The sender's compressed public key, hex; from_address must derive from it. */
  pub_key: string;
}

/**
 * A bid commitment on chain (docs/decisions.md, "Bid commit–reveal"): the spec's BidTx, carried
 * by the CPC node as a zero-amount TRANSFER from the market to itself with this payload.
 */
export interface BidCommitPayload {
  /** The commitment, lowercase hex SHA-256 (domain/bid-commit.ts). */
  bid_commit: string;
}

export interface TransferTx extends TxCommon {
  tx_type: 'TRANSFER';
  to_address: string;
  amount: bigint;
  /** Empty for a payout; a bid commitment for a BidTx. */
  payload: Record<string, never> | BidCommitPayload;
}

export interface SubmitResultTx extends TxCommon {
  tx_type: 'SUBMIT_RESULT';
  to_address: null;
  amount: bigint;
  payload: ComputeResult;
}

export type UnsignedTx = TransferTx | SubmitResultTx;
export type SignedTx = UnsignedTx & { signature: string };

interface DraftCommon {
  nonce: number;
  timestamp: number;
  gas_price?: number;
  gas_limit?: number;
  /** Defaults to gas_limit × gas_price, the least the node accepts. */
  fee?: bigint;
}

export type TxDraft =
  | (DraftCommon & { tx_type: 'TRANSFER'; to_address: string; amount: bigint; payload?: BidCommitPayload })
  | (DraftCommon & { tx_type: 'SUBMIT_RESULT'; result: ComputeResult });

/** The string whose SHA-256 is the transaction's hash (and what its signature covers). */
export function txHashPreimage(tx: UnsignedTx): string {
  return (
    tx.tx_type +
    tx.from_address +
    (tx.to_address ?? '') +
    tx.amount.toString() +
    tx.fee.toString() +
    String(tx.nonce) +
    String(tx.gas_price) +
    String(tx.gas_limit) +
    pythonJson(tx.payload) +
    tx.pub_key
  );
}

/** The transaction hash: lowercase hex SHA-256 of the preimage, the node's `tx_hash`. */
export function txHash(tx: UnsignedTx): string {
  return bytesToHex(sha256(utf8ToBytes(txHashPreimage(tx))));
}

/**
 * Fills in the sender from the key, the gas defaults and the fee, and signs. Throws on bad fields.
 * A SigningKey (a private key in hex otherwise) saves deriving its public key and address per call.
 */
export function signTx(key: SigningKey | string, draft: TxDraft): SignedTx {
  const signer = typeof key === 'string' ? new SigningKey(key) : key;
  const gas_price = draft.gas_price ?? DEFAULT_GAS_PRICE;
  const gas_limit = draft.gas_limit ?? BASE_GAS[draft.tx_type];
  const common = {
    from_address: signer.address,
    nonce: draft.nonce,
    fee: draft.fee ?? BigInt(gas_limit) * BigInt(gas_price),
    gas_price,
    gas_limit,
    timestamp: draft.timestamp,
    pub_key: signer.publicKey,
  };
  const tx: UnsignedTx =
    draft.tx_type === 'TRANSFER'
      ? {
          ...common,
          tx_type: 'TRANSFER',
          to_address: draft.to_address,
          amount: draft.amount,
          payload: draft.payload ? { bid_commit: draft.payload.bid_commit } : {},
        }
      : {
          ...common,
          tx_type: 'SUBMIT_RESULT',
          to_address: null,
          amount: 0n,
          payload: pickResult(draft.result),
        };
  const problem = txFieldProblem(tx);
  if (problem) throw new RangeError(`${draft.tx_type}: ${problem}`);
  if (tx.tx_type === 'TRANSFER' && tx.amount === 0n && !isBidCommit(tx.payload))
    throw new RangeError('TRANSFER: amount must be positive');
  return { ...tx, signature: signer.sign(utf8ToBytes(txHashPreimage(tx))) };
}

export type TxProblemCode =
  'invalid_field' | 'pub_key_mismatch' | 'invalid_signature' | 'gas_too_low' | 'fee_too_low';
export interface TxProblem {
  code: TxProblemCode;
  message: string;
}

/**
 * The node's stateless checks, in its order: gas price, gas limit and fee against the type's
 * base gas, the sender derived from pub_key, the signature. Undefined when the tx passes.
 */
export function verifyTx(tx: SignedTx, minGasPrice = DEFAULT_GAS_PRICE): TxProblem | undefined {
  const field = txFieldProblem(tx);
  if (field) return { code: 'invalid_field', message: field };
  if (tx.gas_price < minGasPrice)
    return { code: 'gas_too_low', message: `gas_price ${tx.gas_price} < min ${minGasPrice}` };
  const base = BASE_GAS[tx.tx_type];
  if (tx.gas_limit < base)
    return { code: 'gas_too_low', message: `gas_limit ${tx.gas_limit} < base_gas ${base}` };
  const needed = BigInt(base) * BigInt(tx.gas_price);
  if (tx.fee < needed) return { code: 'fee_too_low', message: `fee ${tx.fee} < needed_fee ${needed}` };
  let derived: string;
  try {
    derived = addressFromPublicKey(tx.pub_key);
  } catch {
    return { code: 'pub_key_mismatch', message: 'pub_key is not a compressed secp256k1 public key' };
  }
  if (derived !== tx.from_address)
    return { code: 'pub_key_mismatch', message: 'from_address does not derive from pub_key' };
  // High-S taken, as the node takes it: another wallet's transaction need not be normalised.
  if (!verifySignature(tx.pub_key, utf8ToBytes(txHashPreimage(tx)), tx.signature, { highS: true }))
    return { code: 'invalid_signature', message: 'the signature does not verify with pub_key' };
  return undefined;
}

/** Shape and range checks of every field; undefined when all are well-formed. */
export function txFieldProblem(tx: UnsignedTx): string | undefined {
  if (!(TX_TYPES as readonly string[]).includes(tx.tx_type)) return `unknown tx_type ${String(tx.tx_type)}`;
  if (!isValidAddress(tx.from_address)) return 'from_address must be a cpc1… address';
  for (const name of ['nonce', 'gas_price', 'gas_limit', 'timestamp'] as const)
    if (!Number.isSafeInteger(tx[name]) || tx[name] < 0) return `${name} must be a non-negative integer`;
  if (!isAmount(tx.fee)) return 'fee must be a non-negative bigint of base units';
  if (!isAmount(tx.amount)) return 'amount must be a non-negative bigint of base units';
  if (typeof tx.pub_key !== 'string' || !/^0[23][0-9a-f]{64}$/.test(tx.pub_key))
    return 'pub_key must be a 33-byte compressed public key in lowercase hex';
  if (tx.tx_type === 'TRANSFER') {
    if (!isValidAddress(tx.to_address)) return 'to_address must be a cpc1… address';
    return transferPayloadProblem(tx.payload);
  }
  if (tx.to_address !== null) return 'a SUBMIT_RESULT has no to_address';
  if (tx.amount !== 0n) return 'a SUBMIT_RESULT moves no amount';
  return computeResultProblem(tx.payload);
}

/** A TRANSFER's payload is empty (a payout) or exactly a bid commitment (a BidTx). */
export function transferPayloadProblem(payload: unknown): string | undefined {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload))
    return 'a TRANSFER payload must be an object';
  if (Object.keys(payload).length === 0 || isBidCommit(payload)) return undefined;
  return 'a TRANSFER carries an empty payload or a bid commitment ({"bid_commit": 64 lowercase hex})';
}

export function isBidCommit(payload: unknown): payload is BidCommitPayload {
  if (typeof payload !== 'object' || payload === null) return false;
  const keys = Object.keys(payload);
  const value = (payload as { bid_commit?: unknown }).bid_commit;
  return keys.length === 1 && typeof value === 'string' && /^[0-9a-f]{64}$/.test(value);
}

/** What is wrong with a ComputeResult's fields (types the chain's model requires), if anything. */
export function computeResultProblem(r: unknown): string | undefined {
  if (typeof r !== 'object' || r === null || Array.isArray(r)) return 'result must be an object';
  const o = r as Record<string, unknown>;
  for (const key of Object.keys(o))
    if (!COMPUTE_RESULT_FIELDS.includes(key)) return `result has an unexpected field "${key}"`;
  for (const name of ['task_id', 'worker_address', 'result_hash', 'proof', 'signature'])
    if (typeof o[name] !== 'string') return `result.${name} must be a string`;
  if (typeof o.nonce !== 'number' || !Number.isSafeInteger(o.nonce) || o.nonce < 0)
    return 'result.nonce must be a non-negative integer';
  return undefined;
}

const COMPUTE_RESULT_FIELDS = ['task_id', 'worker_address', 'result_hash', 'proof', 'nonce', 'signature'];

/** Exactly the six fields: an extra key on the caller's object would change the payload hash. */
function pickResult(r: ComputeResult): ComputeResult {
  const { task_id, worker_address, result_hash, proof, nonce, signature } = r;
  return { task_id, worker_address, result_hash, proof, nonce, signature };
}

/** The bytes a worker signs for ComputeResult.signature (the chain's `get_signable_bytes`). */
export function computeResultSigningBytes(r: Omit<ComputeResult, 'signature'>): Uint8Array {
  return utf8ToBytes(r.task_id + r.worker_address + r.result_hash + r.proof + String(r.nonce));
}

/**
 * Python's json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=True): keys in
 * code-point order, everything outside printable ASCII escaped as \uXXXX (UTF-16 units).
 * Only integers are supported as numbers: Python prints floats differently from JavaScript.
 */
export function pythonJson(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new RangeError('payload numbers must be safe integers');
    return String(value);
  }
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'string')
    return JSON.stringify(value).replace(
      /[\u007f-\uffff]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    );
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => byCodePoint(a, b));
    return `{${entries.map(([k, v]) => `${pythonJson(k)}:${pythonJson(v)}`).join(',')}}`;
  }
  throw new RangeError(`payload cannot hold a ${typeof value}`);
}

function byCodePoint(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = (x[i] as string).codePointAt(0)! - (y[i] as string).codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

function isAmount(v: unknown): v is bigint {
  return typeof v === 'bigint' && v >= 0n && v <= MAX_AMOUNT;
}

/** The most TRANSFERs one batchPayouts call will plan. */
export const MAX_TRANSFERS_PER_PLAN = 100_000;

export interface PendingPayout {
  address: string;
  amount: bigint;
}

export type PayoutRejection = 'invalid_address' | 'non_positive_amount';

export interface PayoutPlan<P extends PendingPayout> {
  /** One TRANSFER each, in the order addresses first appear in `pending`. */
  transfers: { to: string; amount: bigint }[];
  /** The pending entries the transfers pay, exactly: their amounts sum to the transfers'. */
  paid: P[];
  /** Entries that cannot be paid and must be handled (refunded, held) by the caller. */
  rejected: { payout: P; reason: PayoutRejection }[];
}

/**
 * Turns pending worker payouts into TRANSFERs: one per address with everything that address
 * is owed, or several when that exceeds `maxPerTx` (full `maxPerTx` pieces, then the rest, so the
 * pieces sum to the total exactly). An invalid address or a non-positive amount is set aside,
 * never sent and never dropped: paid + rejected is the whole of `pending`.
 */
export function batchPayouts<P extends PendingPayout>(
  pending: readonly P[],
  maxPerTx: bigint,
): PayoutPlan<P> {
  if (maxPerTx <= 0n) throw new RangeError('maxPerTx must be a positive amount');
  const totals = new Map<string, bigint>();
  const paid: P[] = [];
  const rejected: PayoutPlan<P>['rejected'] = [];
  for (const p of pending) {
    if (!isValidAddress(p.address)) rejected.push({ payout: p, reason: 'invalid_address' });
    else if (typeof p.amount !== 'bigint' || p.amount <= 0n)
      rejected.push({ payout: p, reason: 'non_positive_amount' });
    else {
      totals.set(p.address, (totals.get(p.address) ?? 0n) + p.amount);
      paid.push(p);
    }
  }
  let count = 0n;
  for (const total of totals.values()) count += (total + maxPerTx - 1n) / maxPerTx;
  // A cap far below the amounts owed is a misconfiguration, not a plan of a billion transfers.
  if (count > BigInt(MAX_TRANSFERS_PER_PLAN))
    throw new RangeError(`paying these amounts at most ${maxPerTx} per transfer needs ${count} transfers`);
  const transfers: PayoutPlan<P>['transfers'] = [];
  for (const [to, total] of totals) {
    let left = total;
    while (left > maxPerTx) {
      transfers.push({ to, amount: maxPerTx });
      left -= maxPerTx;
    }
    transfers.push({ to, amount: left });
  }
  return { transfers, paid, rejected };
}
