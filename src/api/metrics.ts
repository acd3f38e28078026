// Prometheus metrics of one node. Each app gets its own registry, so tests can run several.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { LANES } from '../domain/scheduler-params.js';
import { TASK_STATUSES } from '../domain/task-state.js';
import type { Market } from '../market/market.js';
import { tasksByStatus } from '../market/queries.js';
import { registerAdmissionMetrics } from './metrics-admission.js';
import { registerCourierMetrics } from './metrics-courier.js';
import { registerSettlementMetrics } from './metrics-settlement.js';
import { registerVerificationMetrics } from './metrics-verification.js';

export interface ApiMetrics {
  registry: Registry;
  requests: Counter<'method' | 'route' | 'status'>;
  latency: Histogram<'method' | 'route'>;
  /** Blob uploads being read now, over all accounts (each account has UPLOADS_PER_ACCOUNT). */
  uploadsInFlight: Gauge;
}

export function createMetrics(market: Market): ApiMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency, by method and route',
    labelNames: ['method', 'route'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const uploadsInFlight = new Gauge({
    name: 'blob_uploads_in_flight',
    help: 'blob uploads being read now',
    registers: [registry],
  });
  new Gauge({
    name: 'tasks',
    help: 'tasks stored, by status',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      const counts = await tasksByStatus(market);
      for (const status of TASK_STATUSES) this.set({ status }, counts.get(status) ?? 0);
    },
  });
  const created = new Counter({
    name: 'tasks_created_total',
    help: 'tasks created, by challenge type',
    labelNames: ['challenge_type'] as const,
    registers: [registry],
  });
  const closed = new Counter({
    name: 'tasks_closed_total',
    help: 'tasks that reached a final status, by status and reason',
    labelNames: ['status', 'reason'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'workers_connected',
    help: 'worker agents connected to this node',
    registers: [registry],
    collect() {
      this.set(market.dispatcher.connected);
    },
  });
  const dispatched = new Counter({
    name: 'jobs_dispatched_total',
    help: 'jobs leased to workers',
    registers: [registry],
  });
  const completed = new Counter({
    name: 'jobs_completed_total',
    help: 'jobs whose result was accepted',
    registers: [registry],
  });
  const failed = new Counter({
    name: 'jobs_failed_total',
    help: 'jobs a worker reported it could not run, by reason',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const expired = new Counter({
    name: 'lease_expiries_total',
    help: 'leases lost: expired, or the worker disconnected',
    registers: [registry],
  });
  const sliceRuntime = new Histogram({
    name: 'slice_runtime_seconds',
    help: 'time per slice, from lease to accepted result, averaged over the job',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300],
    registers: [registry],
  });
  const matches = new Counter({
    name: 'scheduler_match_total',
    help: 'matching decisions, by result (success or the reason a job did not match)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const reputation = new Counter({
    name: 'reputation_adjust_total',
    help: 'provider reputation adjustments, by outcome',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const effective = new Gauge({
    name: 'scheduler_effective_price',
    help: 'latest effective price (base units per unit) by provider',
    labelNames: ['provider'] as const,
    registers: [registry],
  });
  const acceleratorMiss = new Counter({
    name: 'scheduler_accelerator_miss_total',
    help: 'jobs whose accelerator request no provider could meet',
    registers: [registry],
  });
  const cancels = new Counter({
    name: 'scheduler_cancel_total',
    help: 'job cancellations, by reason',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const priorityMiss = new Counter({
    name: 'scheduler_priority_miss_total',
    help: 'normal or high priority jobs that waited more than priority_miss_seconds to start',
    registers: [registry],
  });
  const settleApplied = new Counter({
    name: 'settle_applied_total',
    help: 'receipts debited and paid',
    registers: [registry],
  });
  const settleFailed = new Counter({
    name: 'settle_failed_total',
    help: 'settlement failures, by reason',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const modeChanges = new Counter({
    name: 'settle_mode_change_total',
    help: 'settlement mode transitions, by new mode',
    labelNames: ['to'] as const,
    registers: [registry],
  });
  const receipts = new Counter({
    name: 'matches_total',
    help: 'receipts processed, by whether settlement was a dry run',
    labelNames: ['dry_run'] as const,
    registers: [registry],
  });
  // Price board (spec "Price Board Persistence"): read on scrape, in base units per unit. Without
  // prices a lane has no band series and the fee gauges read NaN, never a misleading 0.
  const band = (name: string, pick: 'p25' | 'median' | 'p75') =>
    new Gauge({
      name,
      help: `price board ${pick} price per unit (base units), by lane`,
      labelNames: ['lane'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const lane of LANES) {
          const b = market.priceBoard.bands(lane);
          if (b) this.set({ lane }, Number(b[pick]));
        }
      },
    });
  band('price_band_p25', 'p25');
  band('price_band_median', 'median');
  band('price_band_p75', 'p75');
  const fee = (name: string, pick: 'p50' | 'p90') =>
    new Gauge({
      name,
      help: `consumer lane ${pick} price per unit (base units) on the price board`,
      registers: [registry],
      collect() {
        const v = market.priceBoard.consumerFees()[pick];
        this.set(v === null ? NaN : Number(v));
      },
    });
  fee('consumer_fee_p50', 'p50');
  fee('consumer_fee_p90', 'p90');
  const gossip = new Counter({
    name: 'reputation_gossip_total',
    help: 'gossiped reputation entries received, by whether they replaced the stored score',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  market.events.on('reputation.gossip_received', (e) => {
    gossip.inc({ result: 'applied' }, e.applied);
    gossip.inc({ result: 'ignored' }, e.ignored);
  });
  market.events.on('settle.applied', () => settleApplied.inc());
  market.events.on('settle.failed', (e) => settleFailed.inc({ reason: e.reason }));
  market.events.on('settle.mode_changed', (e) => modeChanges.inc({ to: e.to }));
  market.events.on('settle.receipt', (e) => receipts.inc({ dry_run: String(e.dryRun) }));
  market.events.on('job.matched', (e) => {
    matches.inc({ result: 'success' });
    effective.set({ provider: e.provider }, Number(e.effectivePrice));
  });
  market.events.on('job.unmatched', (e) => {
    matches.inc({ result: e.reason });
    if (e.reason === 'accelerator_missing') acceleratorMiss.inc();
  });
  market.events.on('reputation.adjusted', (e) => reputation.inc({ result: e.outcome }));
  market.events.on('job.cancelled', (e) => cancels.inc({ reason: e.reason }));
  market.events.on('job.priority_miss', () => priorityMiss.inc());
  market.events.on('job.dispatched', (e) => dispatched.inc(e.count));
  market.events.on('job.completed', (e) => {
    completed.inc();
    sliceRuntime.observe(e.runtimeMs / 1000 / Math.max(1, e.slices));
  });
  market.events.on('job.failed', (e) => failed.inc({ reason: e.reason }));
  market.events.on('lease.expired', () => expired.inc());
  market.events.on('task.created', (e) => created.inc({ challenge_type: e.challengeType }));
  market.events.on('task.closed', (e) => closed.inc({ status: e.status, reason: e.reason ?? 'none' }));
  registerAdmissionMetrics(registry, market);
  registerCourierMetrics(registry, market);
  registerSettlementMetrics(registry, market);
  registerVerificationMetrics(registry, market);
  return { registry, requests, latency, uploadsInFlight };
}
