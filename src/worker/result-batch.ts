// Results that finish close together leave as one job_results message with one signature over
// the Merkle root of their leaves (src/domain/result-batch.ts): a worker running many short jobs
// signs once per batch instead of once per job, and the market verifies once. A batch closes
// after RESULT_BATCH_MS (at once when the agent was idle), or sooner when it is full by count or
// by size.

import { utf8ToBytes } from '@noble/hashes/utils.js';
import { signMessage } from '../domain/identity.js';
import { batchRoot } from '../domain/result-batch.js';
import {
  MAX_MESSAGE_BYTES,
  resultsMessage,
  type BatchedResult,
  type JobResults,
} from '../domain/schemas/worker.js';

/** How long a finished result of a busy agent waits for others to share its signature. */
export const RESULT_BATCH_MS = 10;
/**
 * An agent that sent no batch this long and runs no job is idle: its result leaves at once, as
 * nothing else is likely to join it.
 */
export const RESULT_IDLE_MS = 100;
/** The protocol's cap on results per message. */
export const RESULT_BATCH_MAX = 1024;
/** A batch closes before its frame passes this (artifacts can be large). */
const BATCH_BYTES = MAX_MESSAGE_BYTES / 2;

export interface ResultKey {
  private_key: string;
  address: string;
}

/** Signs results as one job_results message (the results are not changed). */
export function signBatch(key: ResultKey, results: readonly BatchedResult[]): JobResults {
  const root = batchRoot(results);
  return {
    type: 'job_results',
    worker_address: key.address,
    batch_root: root,
    signature: signMessage(key.private_key, utf8ToBytes(resultsMessage(root))),
    results: [...results],
  };
}

/** Splits results into batches that each fit one frame and the protocol's count. */
export function batches(results: readonly BatchedResult[]): BatchedResult[][] {
  const out: BatchedResult[][] = [];
  let current: BatchedResult[] = [];
  let bytes = 0;
  for (const r of results) {
    const size = Buffer.byteLength(JSON.stringify(r));
    if (current.length > 0 && (current.length >= RESULT_BATCH_MAX || bytes + size > BATCH_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(r);
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}
