// Admission and scheduler metrics under the spec's names ("Industrial Admission & Fee Lanes",
// "Preemption", "Normalized Compute Units"), fed by market events and read from the store on scrape.

import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { laneOf, typesOfLane } from '../domain/admission.js';
import { LANES } from '../domain/scheduler-params.js';
import type { Market } from '../market/market.js';
import { demandOf, queuedByChallengeType } from '../market/queries.js';

export function registerAdmissionMetrics(registry: Registry, market: Market): void {
  const registers = [registry];
  new Gauge({
    name: 'mempool_size',
    help: 'queued jobs, by lane',
    labelNames: ['lane'] as const,
    registers,
    async collect() {
      const params = market.params.get();
      const sizes = { consumer: 0, industrial: 0 };
      for (const [type, n] of await queuedByChallengeType(market)) sizes[laneOf(type, params)] += n;
      for (const lane of LANES) this.set({ lane }, sizes[lane]);
    },
  });
  new Gauge({
    name: 'admission_mode',
    help: 'the comfort guard: 1 for the mode in force (loose or tight), 0 for the other',
    labelNames: ['mode'] as const,
    registers,
    collect() {
      for (const mode of ['loose', 'tight'] as const)
        this.set({ mode }, market.admission.mode === mode ? 1 : 0);
    },
  });
  const admitted = new Counter({
    name: 'industrial_admitted_total',
    help: 'industrial tasks admitted',
    registers,
  });
  const deferred = new Counter({
    name: 'industrial_deferred_total',
    help: 'industrial tasks accepted while the market was tight, held until it loosens',
    registers,
  });
  const rejected = new Counter({
    name: 'industrial_rejected_total',
    help: 'industrial tasks refused (capacity, fair_share, burst_exhausted) and SLA slashes',
    labelNames: ['reason'] as const,
    registers,
  });
  const preempt = new Counter({
    name: 'scheduler_preempt_total',
    help: 'preemptions, by result (success or handoff_failed)',
    labelNames: ['reason'] as const,
    registers,
  });
  const industrialTypes = () => typesOfLane('industrial', market.params.get());
  new Gauge({
    name: 'industrial_units_total',
    help: 'compute units of industrial jobs completed',
    registers,
    async collect() {
      this.set((await demandOf(market, industrialTypes())).unitsTotal);
    },
  });
  new Gauge({
    name: 'industrial_price_per_unit',
    help: 'the latest quoted price per unit (base units)',
    registers,
    async collect() {
      const price = (await demandOf(market, industrialTypes())).lastPrice;
      if (price !== null) this.set(Number(price));
    },
  });
  market.events.on('admission.industrial', (e) => {
    if (e.decision === 'admitted') admitted.inc();
    else if (e.decision === 'deferred') deferred.inc();
    else rejected.inc({ reason: e.reason ?? 'unknown' });
  });
  market.events.on('job.preempted', (e) => preempt.inc({ reason: e.result }));
  market.events.on('sla.slashed', () => rejected.inc({ reason: 'SLA' }));
  const loop = new Histogram({
    name: 'match_loop_latency_seconds',
    help: 'time per match-loop iteration (queue read, plan, lease commit, dispatch)',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers,
  });
  market.events.on('dispatch.tick', (e) => loop.observe(e.seconds));
}
