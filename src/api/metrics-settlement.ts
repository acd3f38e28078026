// Receipt store health under the spec's names ("Receipt Settlement"), fed by market events.

import { Counter, type Registry } from 'prom-client';
import type { Market } from '../market/market.js';

export function registerSettlementMetrics(registry: Registry, market: Market): void {
  const corrupt = new Counter({
    name: 'receipt_corrupt_total',
    help: 'stored receipts found damaged (undecodable, or not matching their key) by the start-up check',
    registers: [registry],
  });
  const persistFail = new Counter({
    name: 'receipt_persist_fail_total',
    help: 'database write errors while persisting receipts (the result commit rolled back)',
    registers: [registry],
  });
  const commits = new Counter({
    name: 'result_commits_total',
    help: 'result batches committed, by path: one_statement (commit_results) or long (statement by statement)',
    labelNames: ['path'],
    registers: [registry],
  });
  market.events.on('results.committed', (e) => commits.inc({ path: e.path }));
  // The start-up check runs in Market.open, before any registry exists: count what it found.
  corrupt.inc(market.settlement.receiptCheck?.corrupt ?? 0);
  market.events.on('settle.receipt_corrupt', (e) => corrupt.inc(e.count));
  market.events.on('settle.receipt_persist_failed', () => persistFail.inc());
}
