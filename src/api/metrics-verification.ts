// Verification metrics (issue "Trust"): every verification decision, canary check and fraud found,
// counted as market events report them.

import { Counter, type Registry } from 'prom-client';
import type { Market } from '../market/market.js';

export function registerVerificationMetrics(registry: Registry, market: Market): void {
  const registers = [registry];
  const verification = new Counter({
    name: 'verification_total',
    help: 'task jobs whose results came in, by what verification decided (verified, sampled_out, pending, disputed, failed, refused, unavailable)',
    labelNames: ['result'] as const,
    registers,
  });
  const canary = new Counter({
    name: 'canary_total',
    help: 'canary slices the market checked itself, by result (pass or fail)',
    labelNames: ['result'] as const,
    registers,
  });
  const fraud = new Counter({
    name: 'fraud_detected_total',
    help: 'providers caught delivering a wrong result',
    registers,
  });
  const disputes = new Counter({
    name: 'disputes_total',
    help: 'customer disputes of unchecked results, by status (open: audit queued; recorded; then upheld, rejected or unresolved)',
    labelNames: ['status'] as const,
    registers,
  });
  market.events.on('verification.disputed', ({ kind }) =>
    disputes.inc({ status: kind === 'audit' ? 'open' : 'recorded' }),
  );
  market.events.on('verification.dispute_resolved', ({ status }) => disputes.inc({ status }));
  market.events.on('verification.counted', ({ kind, result, n }) => {
    if (kind === 'verification') verification.inc({ result }, n);
    else if (kind === 'canary') canary.inc({ result }, n);
    else fraud.inc(n);
  });
}
