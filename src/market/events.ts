// The typed event map: metrics, tests and (later) WebSocket fan-out subscribe to these names
// instead of polling or sleeping.

import { EventEmitter } from 'node:events';
import type { TaskStatus } from '../domain/task-state.js';

export interface MarketEvents {
  'task.created': [{ taskId: string; accountId: string; challengeType: string }];
  'task.closed': [{ taskId: string; status: TaskStatus; reason: string | null }];
  'account.funded': [{ accountId: string; amount: bigint }];
  'ledger.violation': [{ violations: string[] }];
}

export class MarketEventBus extends EventEmitter<MarketEvents> {}
