// The courier's rules: what an outbox entry is, the key that deduplicates its cause, the
// ComputeResult the market (in its PoC-validator role) sends for a completed task or a carried
// bundle, the retry delay, and what an answer that may mean "already included" leads to.
//
// An entry is queued as a draft (what to send, no nonce) in the transaction that causes it, and
// sealed by the courier (nonce, signature, tx_hash) just before its first send. "Received" is
// only the node's pool: an entry is done when a block holds it and enough blocks follow.
//
//   pending ──pool takes it──▶ sent ──a block holds it──▶ included ──chain_confirmations──▶ final
//    │  ▲ retryable: backoff    │ ▲                          │ (the block is gone: back to sent)
//    │  └──────────────────┐    │ │in the pool               │
//    │ may be included     │    ▼ │                          │
//    ├────────────────▶ checking ─┴── proven absent, nonce free ──▶ pending (same bytes again)
//    │                     │  (nonce_too_low, insufficient_balance, HTTP 400, past the node's TTL,
//    │                     │   its block replaced by a reorganisation: included/final → checking)
//    │                     └── nonce used, not found in the blocks ──▶ held (the operator decides:
//    │                                                              --landed → final, --resend → pending)
//    └── refused as invalid (bad signature, gas, fee), or proven absent after a 400 ──▶ failed
//
// Only `failed` gives a TRANSFER's amount back to its provider: every other path keeps the
// payout journal, so an answer that may mean "paid" never leads to paying again.

import { blake3 } from '@noble/hashes/blake3.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { computeResultSigningBytes, signTx, type SignedTx } from './chain-tx.js';
import { proofRoot, type ComputeResult } from './merkle.js';
import { SigningKey } from './signing-key.js';

export const OUTBOX_KINDS = ['SUBMIT_RESULT', 'TRANSFER'] as const;
export type OutboxKind = (typeof OUTBOX_KINDS)[number];
export const OUTBOX_STATUSES = [
  'pending',
  'sent',
  'checking',
  'included',
  'final',
  'held',
  'failed',
] as const;
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
  /**
   * The SUBMIT_RESULT of a settlement batch: one chain transaction carrying every task the batch
   * completed (resultBatchComputeResult). A batch of one task is queued as a `task_result`.
   */
  | { type: 'result_batch'; tasks: BatchedTask[] }
  | { type: 'bundle'; bundle_hash: string; sender: string }
  /** amount: base units, decimal. */
  | { type: 'transfer'; to: string; amount: string }
  /** A BidTx: a zero-amount TRANSFER to the market itself carrying the commitment (bid-commit.ts). */
  | { type: 'bid_commit'; bid_id: string; commitment: string }
  /**
   * A nonce filler: 1 base unit from the market to itself, sealed at a nonce the chain waits on
   * that no entry of the outbox can fill any more (a refusal for good after later ones were sent).
   */
  | { type: 'gap_fill'; nonce: number };

/** A completed task as a result batch carries it: its Merkle result, worker and job hashes. */
export interface BatchedTask {
  task_id: string;
  worker_address: string;
  result_hash: string;
  job_hashes: string[];
}

export function draftKind(d: OutboxDraft): OutboxKind {
  return d.type === 'task_result' || d.type === 'result_batch' || d.type === 'bundle'
    ? 'SUBMIT_RESULT'
    : 'TRANSFER';
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
  if (d.type === 'gap_fill')
    return signTx(signer, { tx_type: 'TRANSFER', to_address: signer.address, amount: 1n, nonce, timestamp });
  if (d.type === 'bid_commit')
    return signTx(signer, {
      tx_type: 'TRANSFER',
      to_address: signer.address,
      amount: 0n,
      payload: { bid_commit: d.commitment },
      nonce,
      timestamp,
    });
  const result =
    d.type === 'task_result'
      ? taskComputeResult({ ...d, nonce }, signer)
      : d.type === 'result_batch'
        ? resultBatchComputeResult(d.tasks, nonce, signer)
        : bundleComputeResult(d.bundle_hash, d.sender, nonce, signer);
  return signTx(signer, { tx_type: 'SUBMIT_RESULT', result, nonce, timestamp });
}

export const resultDedupKey = (taskId: string): string => `result:${taskId}`;
/** A result batch's key: BLAKE3 of its task ids, sorted (the same tasks give the same key). */
export const resultBatchDedupKey = (taskIds: readonly string[]): string =>
  `results:${bytesToHex(blake3(utf8ToBytes([...taskIds].sort().join('\n'))))}`;
export const bundleDedupKey = (bundleHash: string, sender: string): string =>
  `bundle:${bundleHash}:${sender}`;
export const payoutDedupKey = (batchId: string, n: number): string => `payout:${batchId}:${n}`;
export const gapDedupKey = (sender: string, nonce: number, attempt: number): string =>
  `gap:${sender}:${nonce}:${attempt}`;

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
 * A completed task's ComputeResult. The market sends it as the PoC validator, and the CPC node
 * includes a SUBMIT_RESULT only when worker_address is its sender (docs/decisions.md, "Results
 * on chain: the market is the worker of record"), so worker_address is the market's own address
 * and the worker that did the work is named in `proof`: `worker=<cpc1…>;jobs=<h1>,<h2>,…`, the
 * jobs' result hashes in plan order, from which anyone recomputes result_hash (their BLAKE3
 * Merkle root) with the block alone. The signature is the market's over the signable bytes.
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
  const signer = typeof key === 'string' ? new SigningKey(key) : key;
  return signed(
    {
      task_id: f.task_id,
      worker_address: signer.address,
      result_hash: f.result_hash,
      proof: `worker=${f.worker_address};jobs=${f.job_hashes.join(',')}`,
      nonce: f.nonce,
    },
    signer,
  );
}

/** Who did the work and the jobs' hashes, read back from a task result's `proof`; else undefined. */
export function parseTaskProof(proof: string): { worker: string; jobHashes: string[] } | undefined {
  const m = /^worker=([^;]*);jobs=(.*)$/.exec(proof);
  if (!m) return undefined;
  return { worker: m[1] as string, jobHashes: m[2] === '' ? [] : (m[2] as string).split(',') };
}

/**
 * The most tasks one result batch carries: a settlement batch of more is queued as several. At
 * about 210 bytes a task (one job) that is a payload of ~54 KB; the node charges a SUBMIT_RESULT
 * its base gas whatever its size, and takes at most 1,000 pooled transactions per sender.
 */
export const MAX_RESULTS_PER_TX = 256;

/** A batched task's leaf in the batch's result_hash: BLAKE3 of `task_id\nworker\nresult_hash`. */
export function batchLeaf(t: Pick<BatchedTask, 'task_id' | 'worker_address' | 'result_hash'>): string {
  return bytesToHex(blake3(utf8ToBytes(`${t.task_id}\n${t.worker_address}\n${t.result_hash}`)));
}

const PROOF_FIELD = /^[^:;,\s]+$/;

/**
 * A settlement batch's ComputeResult (docs/decisions.md, "Results on chain: one SUBMIT_RESULT per
 * settlement batch"): the CPC node has no batch transaction type, so the batch is one
 * SUBMIT_RESULT whose worker is the market (the node's rule, as for one task), whose result_hash
 * is the BLAKE3 Merkle root (proofRoot) of the tasks' leaves (batchLeaf) in batch order, whose
 * task_id is `batch:<that root>`, and whose proof lists every task:
 * `tasks=<task_id>:<worker>:<result_hash>:<h1>,<h2>;<task_id>:…`, from which anyone recomputes
 * each task's result_hash and the batch's root with the block alone (parseBatchProof).
 */
export function resultBatchComputeResult(
  tasks: readonly BatchedTask[],
  nonce: number,
  key: SigningKey | string,
): ComputeResult {
  if (tasks.length === 0) throw new RangeError('a result batch needs at least one task');
  if (tasks.length > MAX_RESULTS_PER_TX)
    throw new RangeError(`a result batch carries at most ${MAX_RESULTS_PER_TX} tasks, got ${tasks.length}`);
  for (const t of tasks)
    for (const f of [t.task_id, t.worker_address, t.result_hash, ...t.job_hashes])
      if (typeof f !== 'string' || !PROOF_FIELD.test(f))
        throw new RangeError(
          `a batched task's fields cannot hold ':', ';', ',' or spaces (task ${t.task_id})`,
        );
  const signer = typeof key === 'string' ? new SigningKey(key) : key;
  const root = proofRoot(tasks.map(batchLeaf));
  return signed(
    {
      task_id: `batch:${root}`,
      worker_address: signer.address,
      result_hash: root,
      proof: `tasks=${tasks
        .map((t) => `${t.task_id}:${t.worker_address}:${t.result_hash}:${t.job_hashes.join(',')}`)
        .join(';')}`,
      nonce,
    },
    signer,
  );
}

/** The tasks of a result batch's `proof`, in batch order; undefined when it is not one. */
export function parseBatchProof(proof: string): BatchedTask[] | undefined {
  if (!proof.startsWith('tasks=')) return undefined;
  const out: BatchedTask[] = [];
  for (const entry of proof.slice('tasks='.length).split(';')) {
    const parts = entry.split(':');
    if (parts.length !== 4) return undefined;
    const [task_id, worker_address, result_hash, jobs] = parts as [string, string, string, string];
    out.push({ task_id, worker_address, result_hash, job_hashes: jobs === '' ? [] : jobs.split(',') });
  }
  return out;
}

/**
 * The tasks a SUBMIT_RESULT of the market records, whichever form it has: a result batch
 * (checked: its root must match) or one task (`worker=…;jobs=…`). Empty for anything else.
 */
export function tasksOnChain(r: Pick<ComputeResult, 'task_id' | 'result_hash' | 'proof'>): BatchedTask[] {
  const batch = parseBatchProof(r.proof);
  if (batch) {
    if (batch.length === 0 || !r.task_id.startsWith('batch:')) return [];
    return proofRoot(batch.map(batchLeaf)) === r.result_hash ? batch : [];
  }
  const one = parseTaskProof(r.proof);
  if (!one) return [];
  return [
    { task_id: r.task_id, worker_address: one.worker, result_hash: r.result_hash, job_hashes: one.jobHashes },
  ];
}

/**
 * A courier bundle receipt as a ComputeResult (spec "Courier Mode"): the bundle's BLAKE3 hash is
 * its id and its result, worker_address is the market (the node's rule, as for tasks), and the
 * proof names who carried it: `carrier=<sender>;bundle=<hash>`.
 */
export function bundleComputeResult(
  bundleHash: string,
  sender: string,
  nonce: number,
  key: SigningKey | string,
): ComputeResult {
  const signer = typeof key === 'string' ? new SigningKey(key) : key;
  return signed(
    {
      task_id: `bundle:${bundleHash}`,
      worker_address: signer.address,
      result_hash: bundleHash,
      proof: `carrier=${sender};bundle=${bundleHash}`,
      nonce,
    },
    signer,
  );
}

function signed(r: Omit<ComputeResult, 'signature'>, key: SigningKey): ComputeResult {
  return { ...r, signature: key.sign(computeResultSigningBytes(r)) };
}

/** Why an entry is being looked for in the chain instead of taken at the node's word. */
export type CheckReason =
  | 'nonce_too_low'
  | 'insufficient_balance'
  | 'bad_request'
  | 'expired'
  /** The block that held it was replaced: found again in the new blocks, or sent again. */
  | 'reorg'
  | 'unknown';

/** What the chain shows about an entry under check, read in this order: account, then blocks. */
export interface CheckFacts {
  nonce: number;
  reason: CheckReason;
  /** The sender's nonces as the node gave them before the blocks were scanned. */
  accountNonce: number;
  pendingNonce: number;
}

export type CheckVerdict =
  /** The node's pool holds it: wait for a block. */
  | { to: 'sent' }
  /** After a 400 with a lower nonce missing: the node may hold this one queued; decide later. */
  | { to: 'checking' }
  /**
   * Send the same bytes again: neither a block nor the pool's run has it, and its nonce is free
   * (or a lower one is missing, and the node, holding it queued, answers already_in_pool). The
   * same bytes are always safe to send: they can land only once.
   */
  | { to: 'pending' }
  /** Proven absent after the node refused it as malformed: give up (a TRANSFER is given back). */
  | { to: 'failed' }
  /** Its nonce was used, yet no scanned block holds it: the operator decides. */
  | { to: 'held'; why: string };

/**
 * The rule for an entry the blocks scanned so far do not hold (found ones are simply included).
 * Blocks up to the head read after the account were scanned, so a used nonce whose block the
 * scan did not find was used by something else (or in blocks the scan cannot reach).
 */
export function checkVerdict(f: CheckFacts): CheckVerdict {
  if (f.accountNonce > f.nonce)
    return {
      to: 'held',
      why: `nonce ${f.nonce} is used on chain (account nonce ${f.accountNonce}) but no scanned block holds this transaction`,
    };
  if (f.pendingNonce > f.nonce) return { to: 'sent' };
  if (f.reason !== 'bad_request') return { to: 'pending' };
  // Giving up needs proof of absence: with a lower nonce missing the node may hold it queued.
  return f.pendingNonce < f.nonce ? { to: 'checking' } : { to: 'failed' };
}
