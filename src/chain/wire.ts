// The JSON a signed transaction travels as: the body of the CPC node's `POST /tx/send`, a row of
// the dev chain, an entry of the courier's outbox. Written strictly (one key order, amounts as
// decimal strings of base units), read leniently (amounts as strings, numbers or bigints, a
// missing timestamp as 0, unknown keys ignored) because blocks come back from the node in its
// own spelling.

import {
  TX_TYPES,
  computeResultProblem,
  isBidCommit,
  transferPayloadProblem,
  txFieldProblem,
  type BidCommitPayload,
  type SignedTx,
  type TxType,
  type UnsignedTx,
} from '../domain/chain-tx.js';
import type { ComputeResult } from '../domain/merkle.js';

export interface WireTx {
  tx_type: TxType;
  from_address: string;
  to_address: string | null;
  amount: string;
  fee: string;
  nonce: number;
  gas_price: number;
  gas_limit: number;
  timestamp: number;
  pub_key: string;
  signature: string;
  payload: Record<string, never> | BidCommitPayload | ComputeResult;
}

export function txToWire(tx: SignedTx): WireTx {
  return {
    tx_type: tx.tx_type,
    from_address: tx.from_address,
    to_address: tx.to_address,
    amount: tx.amount.toString(),
    fee: tx.fee.toString(),
    nonce: tx.nonce,
    gas_price: tx.gas_price,
    gas_limit: tx.gas_limit,
    timestamp: tx.timestamp,
    pub_key: tx.pub_key,
    signature: tx.signature,
    payload:
      tx.tx_type === 'TRANSFER'
        ? isBidCommit(tx.payload)
          ? { bid_commit: tx.payload.bid_commit }
          : {}
        : {
            task_id: tx.payload.task_id,
            worker_address: tx.payload.worker_address,
            result_hash: tx.payload.result_hash,
            proof: tx.payload.proof,
            nonce: tx.payload.nonce,
            signature: tx.payload.signature,
          },
  };
}

export function encodeTx(tx: SignedTx): string {
  return JSON.stringify(txToWire(tx));
}

export type DecodedTx = { ok: true; tx: SignedTx } | { ok: false; error: string };

/** Reads a parsed wire transaction (see parseJsonExact for text with large integers). */
export function decodeTx(value: unknown): DecodedTx {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { ok: false, error: 'a transaction must be a JSON object' };
  const o = value as Record<string, unknown>;
  if (typeof o.tx_type !== 'string' || !(TX_TYPES as readonly string[]).includes(o.tx_type))
    return { ok: false, error: `unsupported tx_type ${JSON.stringify(o.tx_type)}` };
  const amount = wireAmount(o.amount ?? 0);
  const fee = wireAmount(o.fee ?? 0);
  if (amount === undefined || fee === undefined)
    return { ok: false, error: 'amount and fee must be non-negative integers of base units' };
  const ints = {
    nonce: wireInt(o.nonce),
    gas_price: wireInt(o.gas_price ?? 0),
    gas_limit: wireInt(o.gas_limit ?? 0),
    timestamp: wireInt(o.timestamp ?? 0),
  };
  for (const [name, v] of Object.entries(ints))
    if (v === undefined) return { ok: false, error: `${name} must be a non-negative integer` };
  if (typeof o.signature !== 'string') return { ok: false, error: 'signature must be a string' };
  const common = {
    from_address: o.from_address as string,
    amount,
    fee,
    nonce: ints.nonce as number,
    gas_price: ints.gas_price as number,
    gas_limit: ints.gas_limit as number,
    timestamp: ints.timestamp as number,
    pub_key: o.pub_key as string,
  };
  let tx: UnsignedTx;
  if (o.tx_type === 'TRANSFER') {
    const payload = o.payload ?? {};
    const problem = transferPayloadProblem(payload);
    if (problem) return { ok: false, error: problem };
    tx = {
      ...common,
      tx_type: 'TRANSFER',
      to_address: o.to_address as string,
      payload: isBidCommit(payload) ? { bid_commit: payload.bid_commit } : {},
    };
  } else {
    const p = o.payload as Record<string, unknown>;
    if (typeof p === 'object' && p !== null && typeof p.nonce === 'bigint')
      return { ok: false, error: 'payload.nonce is larger than 2^53 - 1' };
    const problem = computeResultProblem(p);
    if (problem) return { ok: false, error: problem };
    const payload = { ...(p as unknown as ComputeResult) };
    tx = { ...common, tx_type: 'SUBMIT_RESULT', to_address: (o.to_address ?? null) as null, payload };
  }
  const problem = txFieldProblem(tx);
  if (problem) return { ok: false, error: problem };
  return { ok: true, tx: { ...tx, signature: o.signature } };
}

function wireAmount(v: unknown): bigint | undefined {
  if (typeof v === 'bigint') return v >= 0n ? v : undefined;
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? BigInt(v) : undefined;
  if (typeof v === 'string' && /^(0|[1-9][0-9]*)$/.test(v)) return BigInt(v);
  return undefined;
}

function wireInt(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}
