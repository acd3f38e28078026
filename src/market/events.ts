// The typed event map: metrics, tests and (later) WebSocket fan-out subscribe to these names
// instead of polling or sleeping.

import { EventEmitter } from 'node:events';
import type { TaskStatus } from '../domain/task-state.js';

export interface MarketEvents {
  'task.created': [{ taskId: string; accountId: string; challengeType: string }];
  'task.closed': [{ taskId: string; status: TaskStatus; reason: string | null }];
  'job.stopped': [{ jobId: string; worker: string; reason: string }];
  'job.queued': [{ count: number }];
  'job.dispatched': [{ count: number }];
  'job.matched': [{ jobId: string; provider: string; effectivePrice: bigint }];
  'job.unmatched': [{ jobId: string; reason: string }];
  'job.priority_miss': [{ jobId: string }];
  'job.cancelled': [{ jobId: string; reason: string }];
  'reputation.adjusted': [{ address: string; outcome: string; score: number }];
  'job.progress': [{ jobId: string; worker: string; done: number; total: number }];
  'job.completed': [{ jobId: string; taskId: string; worker: string; runtimeMs: number; slices: number }];
  'job.failed': [{ jobId: string; worker: string; reason: string }];
  'lease.expired': [{ jobId: string; worker: string }];
  'task.completed': [{ taskId: string; resultHash: string; worker: string }];
  'worker.connected': [{ address: string }];
  'worker.disconnected': [{ address: string; code: number; reason: string }];
  'settle.receipt': [{ jobId: string; dryRun: boolean }];
  'settle.applied': [{ jobId: string; amount: bigint }];
  'settle.failed': [{ taskId: string; reason: string }];
  'settle.mode_changed': [{ from: string; to: string }];
  'account.funded': [{ accountId: string; amount: bigint }];
  'ledger.violation': [{ violations: string[] }];
}

export class MarketEventBus extends EventEmitter<MarketEvents> {}
