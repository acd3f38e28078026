// Courier metrics under the spec's names ("Courier Mode"), fed by market events.

import { Counter, type Registry } from 'prom-client';
import type { Market } from '../market/market.js';

export function registerCourierMetrics(registry: Registry, market: Market): void {
  const attempts = new Counter({
    name: 'courier_flush_attempt_total',
    help: 'outbox entries sent to the chain, by transaction kind',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const failures = new Counter({
    name: 'courier_flush_failure_total',
    help: 'sends the chain did not accept, by kind and whether they will be retried',
    labelNames: ['kind', 'retryable'] as const,
    registers: [registry],
  });
  market.events.on('courier.attempt', (e) => attempts.inc({ kind: e.kind }));
  market.events.on('courier.failure', (e) => failures.inc({ kind: e.kind, retryable: String(e.retryable) }));
}
