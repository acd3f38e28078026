// Prometheus metrics of one node. Each app gets its own registry, so tests can run several.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { TASK_STATUSES } from '../domain/task-state.js';
import type { Market } from '../market/market.js';
import { countTasksByStatus } from '../store/tasks.js';

export interface ApiMetrics {
  registry: Registry;
  requests: Counter<'method' | 'route' | 'status'>;
  latency: Histogram<'method' | 'route'>;
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
  new Gauge({
    name: 'tasks',
    help: 'tasks stored, by status',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      const counts = await countTasksByStatus(market.db);
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
  market.events.on('task.created', (e) => created.inc({ challenge_type: e.challengeType }));
  market.events.on('task.closed', (e) => closed.inc({ status: e.status, reason: e.reason ?? 'none' }));
  return { registry, requests, latency };
}
