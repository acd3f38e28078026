// The typed event map: metrics, tests and (later) WebSocket fan-out subscribe to these names
// instead of polling or sleeping.

import { EventEmitter } from 'node:events';
import type { ReputationEntry } from '../domain/reputation.js';
import type { Lane } from '../domain/scheduler-params.js';
import type { QueueEntry } from '../store/queue.js';
import type { TaskStatus } from '../domain/task-state.js';

export interface MarketEvents {
  /** `deadlineMs` and `webhookCheckMs` (its webhook's first look) tell the sweeps when to look. */
  'task.created': [
    {
      taskId: string;
      accountId: string;
      challengeType: string;
      deadlineMs: number | null;
      webhookCheckMs: number | null;
    },
  ];
  'task.closed': [{ taskId: string; status: TaskStatus; reason: string | null }];
  'job.stopped': [{ jobId: string; worker: string; reason: string }];
  /** Jobs became runnable; `entries` carries what matching needs of them when the emitter knows. */
  'job.queued': [{ count: number; entries?: QueueEntry[] }];
  'job.dispatched': [{ count: number }];
  /** One match-loop iteration: read the queue, plan, commit the leases, send the jobs. */
  'dispatch.tick': [{ seconds: number }];
  'job.matched': [
    { jobId: string; provider: string; effectivePrice: bigint; pricePerUnit: bigint; lane: Lane },
  ];
  'job.unmatched': [{ jobId: string; reason: string }];
  'job.priority_miss': [{ jobId: string }];
  'job.cancelled': [{ jobId: string; reason: string }];
  /** penalize_sla: a task's deadline passed while this job ran; the provider's bond went to the treasury. */
  /** A bond slashed: the deadline passed while the job ran, or its provider cancelled it. */
  'sla.slashed': [{ jobId: string; provider: string; bond: bigint; cause: 'deadline' | 'provider_cancel' }];
  'job.preempted': [{ jobId: string; from: string; to: string; result: 'success' | 'handoff_failed' }];
  'admission.mode': [{ from: string; to: string }];
  'admission.industrial': [
    { decision: 'admitted' | 'deferred' | 'rejected'; reason: string | null; buyer: string; units: number },
  ];
  'reputation.adjusted': [{ address: string; outcome: string; score: number; entry: ReputationEntry }];
  /** A peer's score replaced the stored one; whoever caches reputation must take `entry`. */
  'reputation.gossiped': [{ address: string; entry: ReputationEntry }];
  /** One gossip message processed: how many of its entries were applied and ignored. */
  'reputation.gossip_received': [{ applied: number; ignored: number }];
  'job.progress': [{ jobId: string; worker: string; done: number; total: number }];
  'job.completed': [{ jobId: string; taskId: string; worker: string; runtimeMs: number; slices: number }];
  'job.failed': [{ jobId: string; worker: string; reason: string }];
  'lease.expired': [{ jobId: string; worker: string }];
  'task.completed': [{ taskId: string; resultHash: string; worker: string }];
  /** An audit replaced a completed task's result (its webhook is told again). */
  'task.corrected': [{ taskId: string }];
  /** Verification decided something (verification_total, canary_total, fraud_detected_total). */
  'verification.counted': [{ kind: 'verification' | 'canary' | 'fraud'; result: string; n: number }];
  /** A provider was caught delivering a wrong result. */
  'verification.fraud': [{ address: string; jobId: string; reason: string }];
  /** A customer disputed a result: audited, or recorded against its provider. */
  'verification.disputed': [{ jobId: string; kind: 'audit' | 'recorded' }];
  /** An audit's verdict: upheld (the provider's result lost), rejected or unresolved. */
  'verification.dispute_resolved': [{ jobId: string; status: string }];
  /** A provider on probation failed a type: it rests that type until `until` (ms). */
  'verification.cooldown': [{ address: string; challengeType: string; until: number }];
  'worker.connected': [{ address: string }];
  'worker.disconnected': [{ address: string; code: number; reason: string }];
  'settle.receipt': [{ jobId: string; dryRun: boolean }];
  'settle.applied': [{ jobId: string; amount: bigint }];
  'settle.failed': [{ taskId: string; reason: string }];
  'settle.mode_changed': [{ from: string; to: string }];
  /** Stored receipts that failed the start-up check (receipt_corrupt_total). */
  'settle.receipt_corrupt': [{ count: number }];
  /** Writing `count` receipts failed; the result commit rolled back (receipt_persist_fail_total). */
  'settle.receipt_persist_failed': [{ count: number }];
  /** A result batch committed: in one statement, or the long way (result_commits_total{path}). */
  'results.committed': [{ path: 'one_statement' | 'long'; results: number }];
  'account.funded': [{ accountId: string; amount: bigint; asset?: string }];
  'ledger.violation': [{ violations: string[] }];
  /** The courier sent an outbox entry to the chain (courier_flush_attempt_total). */
  'courier.attempt': [{ kind: string }];
  /** The chain did not take it (courier_flush_failure_total); retryable: it will be sent again. */
  'courier.failure': [{ kind: string; retryable: boolean }];
  'courier.acknowledged': [{ kind: string; txHash: string; duplicate: boolean }];
  /** A task's webhook answered 2xx. */
  'webhook.delivered': [{ deliveryId: string; taskId: string; attempts: number }];
  /** An attempt was refused or failed; `final` when no attempt is left. */
  'webhook.failed': [{ deliveryId: string; taskId: string; attempts: number; error: string; final: boolean }];
}

export class MarketEventBus extends EventEmitter<MarketEvents> {}
