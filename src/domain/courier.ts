// The courier's rules: what an outbox entry is, the key that deduplicates its cause, the
// ComputeResult the market (in its PoC-validator role) sends for a completed task or a carried
// bundle, and the retry delay.
//
// An entry is queued as a draft (what to send, no nonce) in the transaction that causes it, and
// sealed by the courier (nonce, signature, tx_hash) just before its first send:
//   pending ──chain accepts (or already has it)──▶ acknowledged
//      │ └──retryable failure: attempts+1, next_attempt_at = now + backoff──┐
//      │                           ▲─────────────────────────────────────────┘
//      └──non-retryable failure──▶ failed (last_error kept; an operator looks at it)

import { computeResultSigningBytes, signTx, type SignedTx } from './chain-tx.js';
import { signMessage } from './identity.js';
import type { ComputeResult } from './merkle.js';
import { SigningKey } from './signing-key.js';

export const OUTBOX_KINDS = ['SUBMIT_RESULT', 'TRANSFER'] as const;
export type OutboxKind = (typeof OUTBOX_KINDS)[number];
export const OUTBOX_STATUSES = ['pending', 'acknowledged', 'failed'] as const;
export type OutboxStatus = (typeof OUTBOX_STATUSES)[number];

/** What to send, stored as JSON until the courier gives it a nonce and signs it. */
export type OutboxDraft =
  | {
      type: 'task_result';
      task_id: string;
      worker_address: string;
      result_hash: string;
      job_hashes: string[];
    }
  | { type: 'bundle'; bundle_hash: string; sender: string }
  /** amount: base units, decimal. */
  | { type: 'transfer'; to: string; amount: string };

export function draftKind(d: OutboxDraft): OutboxKind {
  return d.type === 'transfer' ? 'TRANSFER' : 'SUBMIT_RESULT';
}

/**
 * The signed transaction of a draft at a nonce; deterministic, so a re-seal gives the same bytes.
 * `key` is a SigningKey (the courier's, made once) or a private key in hex.
 */
export function sealDraft(
  d: OutboxDraft,
  nonce: number,
  key: SigningKey | string,
  timestamp: number,
): SignedTx {
  const signer = typeof key === 'string' ? new SigningKey(key) : key;
  if (d.type === 'transfer')
    return signTx(signer, {
      tx_type: 'TRANSFER',
      to_address: d.to,
      amount: BigInt(d.amount),
      nonce,
      timestamp,
    });
  const result =
    d.type === 'task_result'
      ? taskComputeResult({ ...d, nonce }, signer)
      : bundleComputeResult(d.bundle_hash, d.sender, nonce, signer);
  return signTx(signer, { tx_type: 'SUBMIT_RESULT', result, nonce, timestamp });
}

export const resultDedupKey = (taskId: string): string => `result:${taskId}`;
export const bundleDedupKey = (bundleHash: string, sender: string): string =>
  `bundle:${bundleHash}:${sender}`;
export const payoutDedupKey = (batchId: string, n: number): string => `payout:${batchId}:${n}`;

/**
 * The delay before retry number `attempts` (1 after the first failure): base × 2^(attempts−1),
 * capped at max, with "equal jitter" (half fixed, half random) when `random` (uniform in [0, 1))
 * is given, so a chain coming back is not met by every node at once.
 */
export function courierBackoffMs(
  attempts: number,
  baseMs: number,
  maxMs: number,
  random?: () => number,
): number {
  const step = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(attempts - 1, 0), 30));
  if (!random) return step;
  return Math.round(step / 2 + (random() * step) / 2);
}

/**
 * A completed task's ComputeResult. `proof` lists the jobs' result hashes in plan order, joined
 * by commas, so anyone can recompute result_hash (their BLAKE3 Merkle root) from the block alone.
 * The signature is the market's over the chain's signable bytes: the market, not the worker,
 * sends SUBMIT_RESULT, and worker_address names who did the work.
 */
export function taskComputeResult(
  f: {
    task_id: string;
    worker_address: string;
    result_hash: string;
    job_hashes: readonly string[];
    nonce: number;
  },
  key: SigningKey | string,
): ComputeResult {
  return signed(
    {
      task_id: f.task_id,
      worker_address: f.worker_address,
      result_hash: f.result_hash,
      proof: f.job_hashes.join(','),
      nonce: f.nonce,
    },
    key,
  );
}

/**
 * A courier bundle receipt as a ComputeResult (spec "Courier Mode"): the bundle's BLAKE3 hash is
 * both its id and its proof, and the sender is who carried it.
 */
export function bundleComputeResult(
  bundleHash: string,
  sender: string,
  nonce: number,
  key: SigningKey | string,
): ComputeResult {
  return signed(
    {
      task_id: `bundle:${bundleHash}`,
      worker_address: sender,
      result_hash: bundleHash,
      proof: bundleHash,
      nonce,
    },
    key,
  );
}

function signed(r: Omit<ComputeResult, 'signature'>, key: SigningKey | string): ComputeResult {
  const bytes = computeResultSigningBytes(r);
  return { ...r, signature: typeof key === 'string' ? signMessage(key, bytes) : key.sign(bytes) };
}
