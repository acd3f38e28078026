// bench/scheduler: the scheduler's matching, alone and in its loop.
//
// (a) The pure matcher (planMatches, src/domain/matcher.ts) over a market of --offers providers
//     with varied machines (GPU models, GPU memory, accelerators, frameworks, challenge types,
//     models), prices and reputations, and --jobs queued jobs with varied requirements, budgets
//     and priorities, taken in queue order from the aged priority queue. Decisions/s and
//     assignments/s over the whole call (index build included), per-decision latency (p50/p99/
//     max, timed between the matcher's pulls from the queue), and memory.
// (b) The full loop against PostgreSQL (a fresh schema, dropped after): --db-jobs queued jobs,
//     loaded once into the node's in-memory queue (src/market/job-queue.ts) as the node does at
//     start; each tick takes the head of each lane, plans it on an offer index kept between ticks
//     (planOnIndex), commits the leases with conditional updates in one transaction (leaseJobs,
//     whose statement also returns what the leased jobs' messages need, as the dispatcher sends
//     them). Committed assignments/s and per-tick latency.
//
// Writes bench/results/scheduler.json. --max-semi-space-size=64: a plan makes many short-lived
// bigints, and a larger young generation keeps the collector from copying them around.
//
//   npm run build && node --expose-gc --max-semi-space-size=64 bench/scheduler.mjs [--offers 100000] [--jobs 1000000]
//       [--db-jobs 200000] [--tick 10000] [--part both|matcher|loop]

import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { buildOfferIndex, planMatches, planOnIndex } from '../dist/domain/matcher.js';
import { agedKey, PriorityQueue } from '../dist/domain/priority.js';
import { defaultParams, LANES } from '../dist/domain/scheduler-params.js';
import { openDatabase } from '../dist/store/open.js';
import { leaseJobs } from '../dist/store/jobs.js';
import { queueHeads } from '../dist/store/queue.js';
import { JobQueue } from '../dist/market/job-queue.js';
import { typesOfLane } from '../dist/domain/admission.js';
import { seededRng } from '../dist/domain/rng.js';
import { PG_URL, writeResults } from './lib.mjs';

const { values } = parseArgs({
  options: {
    offers: { type: 'string', default: '100000' },
    jobs: { type: 'string', default: '1000000' },
    'db-jobs': { type: 'string', default: '200000' },
    tick: { type: 'string', default: '10000' },
    part: { type: 'string', default: 'both' },
    seed: { type: 'string', default: '42' },
  },
});
const OFFERS = Number(values.offers);
const JOBS = Number(values.jobs);
const DB_JOBS = Number(values['db-jobs']);
const TICK = Number(values.tick);
const SEED = Number(values.seed);
const params = defaultParams();
const gc = globalThis.gc ?? (() => {});

// ─── a reproducible market ───────────────────────────────────────────────────────────────────

const rng = seededRng;

const GPUS = [
  { model: 'NVIDIA H100', mb: 81_920, w: 8 },
  { model: 'NVIDIA A100', mb: 81_920, w: 10 },
  { model: 'NVIDIA A100', mb: 40_960, w: 8 },
  { model: 'NVIDIA L40S', mb: 46_068, w: 8 },
  { model: 'RTX 4090', mb: 24_564, w: 16 },
  { model: 'RTX 3090', mb: 24_576, w: 12 },
  { model: 'NVIDIA A10', mb: 24_576, w: 8 },
  { model: 'Tesla T4', mb: 16_384, w: 10 },
  { model: null, mb: 0, w: 20 },
];
const FRAMEWORKS = ['torch', 'jax', 'tensorflow', 'onnx'];
const TYPES = ['transcode', 'gpuhash', 'rendering', 'inference', 'training', 'synthetic'];
const MODELS = ['llama-3-8b', 'llama-3-70b', 'mistral-7b', 'sdxl'];

function weighted(r, list) {
  let x = r() * list.reduce((n, g) => n + g.w, 0);
  for (const g of list) if ((x -= g.w) < 0) return g;
  return list[list.length - 1];
}
const pick = (r, list) => list[Math.floor(r() * list.length)];
function subset(r, list, p, min = 1) {
  const out = list.filter(() => r() < p);
  while (out.length < min) {
    const x = pick(r, list);
    if (!out.includes(x)) out.push(x);
  }
  return out;
}

const STACKS = [['torch'], ['torch', 'onnx'], ['torch', 'jax'], ['tensorflow', 'onnx'], FRAMEWORKS];
const GPU_PROFILES = [
  TYPES,
  ['transcode', 'gpuhash', 'rendering', 'training', 'synthetic'],
  ['inference'],
  ['inference', 'training', 'synthetic'],
  ['rendering', 'transcode'],
];
const CPU_PROFILES = [['transcode', 'gpuhash', 'synthetic'], ['transcode'], ['gpuhash', 'synthetic']];
const MODEL_SETS = [['llama-3-8b'], ['llama-3-8b', 'mistral-7b'], ['llama-3-70b'], ['sdxl'], MODELS];
const ACCELERATORS = [
  { accelerator: null, accelerator_memory_mb: 0, w: 85 },
  { accelerator: 'TPU', accelerator_memory_mb: 16_384, w: 5 },
  { accelerator: 'TPU', accelerator_memory_mb: 32_768, w: 4 },
  { accelerator: 'FPGA', accelerator_memory_mb: 8_192, w: 3 },
  { accelerator: 'FPGA', accelerator_memory_mb: 16_384, w: 3 },
];

/**
 * Providers: a Provider of src/domain/matcher.ts each, with its own capability object. Machines
 * combine a GPU (or none) and its count, CPU cores, an accelerator, a framework stack, the work
 * they take and the models they serve, so the market has thousands of distinct descriptors.
 */
function makeOffers(n, seed) {
  const r = rng(seed);
  const out = new Array(n);
  for (let i = 0; i < n; i++) {
    const gpu = weighted(r, GPUS);
    const count = gpu.model ? pick(r, [1, 1, 2, 4, 8]) : 0;
    const types = gpu.model ? pick(r, GPU_PROFILES) : pick(r, CPU_PROFILES);
    const accel = weighted(r, ACCELERATORS);
    out[i] = {
      address: `cpc1bench${i.toString(36).padStart(6, '0')}`,
      capability: {
        cpu_cores: Math.max(4, count * 8) * pick(r, [1, 2]),
        gpu_model: gpu.model,
        gpu_count: count,
        gpu_memory_mb: gpu.mb,
        accelerator: accel.accelerator,
        accelerator_memory_mb: accel.accelerator_memory_mb,
        frameworks: gpu.model ? [...pick(r, STACKS)] : [],
        challenge_types: [...types],
        models: types.includes('inference') ? [...pick(r, MODEL_SETS)] : [],
      },
      freeSlots: 1 + Math.floor(r() * 16),
      pricePerUnit: r() < 0.03 ? null : BigInt(50 + Math.floor(r() * 451)),
      freeUnits: r() < 0.1 ? 20 + Math.floor(r() * 100) : 1_000 + Math.floor(r() * 100_000),
      reputation: r() < 0.05 ? -Math.floor(r() * 200) - 1 : Math.floor(r() * 1001),
    };
  }
  return out;
}

/** A job's requirements; one object per job, as rows parsed from the database would be. */
function requirements(r) {
  const x = r();
  if (x < 0.3) return null;
  if (x < 0.45) return { gpu_model: pick(r, ['H100', 'A100', 'L40S', '4090', '3090', 'A10', 'T4']) };
  if (x < 0.6) return { gpu_memory_mb: pick(r, [16_000, 24_000, 40_000, 80_000]) };
  if (x < 0.7) return { gpu_model: pick(r, ['A100', '4090']), gpu_count: pick(r, [1, 2, 4]) };
  if (x < 0.8) return { frameworks: subset(r, FRAMEWORKS, 0.3) };
  if (x < 0.88) return { cpu_cores: pick(r, [4, 16, 32]), gpu_memory_mb: pick(r, [20_000, 40_000]) };
  if (x < 0.95)
    return { accelerator: r() < 0.7 ? 'TPU' : 'FPGA', accelerator_memory_mb: pick(r, [4_096, 16_384]) };
  return { gpu_model: 'H100', frameworks: ['jax'], gpu_memory_mb: 80_000 };
}

/** Queued jobs in arrival order: the fields a JobNeed and a queue entry need. */
function makeJobs(n, seed) {
  const r = rng(seed);
  const out = new Array(n);
  const start = 1_700_000_000_000;
  for (let i = 0; i < n; i++) {
    const challengeType = weighted(r, [
      { t: 'inference', w: 30 },
      { t: 'training', w: 15 },
      { t: 'synthetic', w: 20 },
      { t: 'rendering', w: 15 },
      { t: 'transcode', w: 15 },
      { t: 'gpuhash', w: 5 },
    ]).t;
    const units = 1 + Math.floor(r() * 10);
    // Most customers pay up to 600 a unit; a few bid below every offer and must say so.
    const perUnit = r() < 0.03 ? 20 : 100 + Math.floor(r() * 500);
    const p = r();
    const id = randomUUID();
    out[i] = {
      jobId: id,
      id,
      challengeType,
      model: challengeType === 'inference' ? pick(r, MODELS) : undefined,
      requirements: requirements(r),
      units,
      budget: BigInt(perUnit * units),
      priority: p < 0.3 ? 'low' : p < 0.85 ? 'normal' : 'high',
      enqueuedAtMs: start + Math.floor(i / 10),
      seq: i,
    };
  }
  return out;
}

function percentiles(samples) {
  const s = Float64Array.from(samples).sort();
  const at = (p) => s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))];
  return {
    p50: round(at(50), 4),
    p90: round(at(90), 4),
    p99: round(at(99), 4),
    p999: round(at(99.9), 4),
    max: round(s[s.length - 1], 4),
  };
}
const round = (x, d = 1) => Number(x.toFixed(d));
const mib = (bytes) => round(bytes / 1048576);

function queueOf(jobs) {
  const q = new PriorityQueue(params);
  for (const j of jobs) q.push(j);
  return q;
}

// ─── (a) the pure matcher ────────────────────────────────────────────────────────────────────

function benchMatcher() {
  // Warm the JIT on a small market first, so the measured runs see optimised code.
  const warm = makeOffers(Math.min(OFFERS, 10_000), SEED + 1);
  planMatches(queueOf(makeJobs(Math.min(JOBS, 100_000), SEED + 2)).ordered(), warm, { params, seed: 1 });

  const offers = makeOffers(OFFERS, SEED);
  const jobs = makeJobs(JOBS, SEED + 3);
  const queue = queueOf(jobs);
  gc();
  const baseline = process.memoryUsage();

  // Throughput: one plan over the whole queue, index build included.
  const t0 = performance.now();
  const plan = planMatches(queue.ordered(), offers, { params, seed: SEED });
  const wall = performance.now() - t0;
  const afterPlan = process.memoryUsage();
  gc();
  const retained = process.memoryUsage();
  const decided = plan.assignments.length + plan.reasons.size;
  const reasons = {};
  for (const why of plan.reasons.values()) reasons[why] = (reasons[why] ?? 0) + 1;

  // The index alone: what a scheduler pays once when it starts.
  const b0 = performance.now();
  const index = buildOfferIndex(offers, { params, seed: SEED });
  const buildMs = performance.now() - b0;
  const groups = index.groupCount;

  // Latency: the same plan again on a fresh index, timing each decision as the gap between the
  // matcher's pulls of consecutive jobs from the queue.
  const gaps = new Float64Array(decided);
  let n = -1;
  let last = 0;
  function* timed() {
    for (const job of queue.ordered()) {
      const now = performance.now();
      if (n >= 0) gaps[n] = now - last;
      n++;
      last = performance.now();
      yield job;
    }
  }
  const timedIndex = buildOfferIndex(offers, { params, seed: SEED });
  const again = planOnIndex(timed(), timedIndex, { params, seed: SEED });
  if (n < decided) gaps[n] = performance.now() - last;
  if (again.assignments.length !== plan.assignments.length) throw new Error('the two runs disagree');
  const latency = percentiles(gaps.subarray(0, decided));
  gc();
  const withIndex = process.memoryUsage();
  const indexMib = mib(withIndex.heapUsed - retained.heapUsed); // the kept index, its lists filled
  if (timedIndex.freeSlots < 0) throw new Error('unreachable'); // keeps the index alive to here

  const result = {
    offers: OFFERS,
    queued_jobs: JOBS,
    capability_groups: groups,
    job_shapes: timedIndex.shapeCount,
    decisions: decided,
    assignments: plan.assignments.length,
    unmatched: reasons,
    wall_ms: round(wall),
    index_build_ms: round(buildMs),
    decisions_per_sec: Math.round(decided / (wall / 1000)),
    matches_per_sec: Math.round(plan.assignments.length / (wall / 1000)),
    decision_latency_ms: latency,
    memory_mib: {
      rss_after_plan: mib(afterPlan.rss),
      heap_inputs: mib(baseline.heapUsed),
      heap_peak_during_plan: mib(afterPlan.heapUsed),
      heap_plan: mib(retained.heapUsed - baseline.heapUsed),
      heap_index: indexMib,
    },
  };
  console.log(
    `matcher: ${OFFERS} offers (${groups} capability groups), ${JOBS} queued jobs: ` +
      `${result.decisions_per_sec} decisions/s, ${result.matches_per_sec} matches/s ` +
      `(${plan.assignments.length} assigned in ${result.wall_ms} ms, index build ${result.index_build_ms} ms)`,
  );
  console.log(
    `matcher: per-decision latency p50 ${latency.p50} ms, p99 ${latency.p99} ms, p99.9 ${latency.p999} ms, max ${latency.max} ms`,
  );
  console.log(
    `matcher: memory rss ${result.memory_mib.rss_after_plan} MiB, heap of inputs ${result.memory_mib.heap_inputs} MiB, ` +
      `plan ${result.memory_mib.heap_plan} MiB, index with every job shape's candidates ${indexMib} MiB; ` +
      `unmatched ${JSON.stringify(reasons)}`,
  );
  return result;
}

// ─── (b) the full loop on PostgreSQL ─────────────────────────────────────────────────────────

const ACCOUNT = '00000000-0000-0000-0000-00000000be01';

/** Queues the jobs as the task service would: one task each, priority and aged sort key. */
async function seed(db, jobs) {
  await db.query(
    `INSERT INTO accounts (account_id, name, kind, created_at_ms) VALUES ($1, 'bench', 'customer', 0)`,
    [ACCOUNT],
  );
  for (let i = 0; i < jobs.length; i += 10_000) {
    const part = jobs.slice(i, i + 10_000);
    const taskIds = part.map(() => randomUUID());
    await db.query(
      `INSERT INTO tasks (task_id, account_id, challenge_type, payload, reward, escrow_held, escrow_ct, status,
                          created_at_ms, updated_at_ms, requirements, units, jobs_total, priority)
       SELECT t, $2, c, p, r, r, r, 'pending', 0, 0, q, u, 1, pr
       FROM unnest($1::uuid[], $3::text[], $4::jsonb[], $5::numeric[], $6::jsonb[], $7::bigint[], $8::text[])
         AS x(t, c, p, r, q, u, pr)`,
      [
        taskIds,
        ACCOUNT,
        part.map((j) => j.challengeType),
        part.map((j) => JSON.stringify(j.model ? { model_id: j.model, max_tokens: 1000 } : { seed: 'ab' })),
        part.map((j) => j.budget.toString()),
        part.map((j) => (j.requirements ? JSON.stringify(j.requirements) : null)),
        part.map((j) => j.units),
        part.map((j) => j.priority),
      ],
    );
    await db.query(
      `INSERT INTO jobs (job_id, task_id, idx, challenge_type, slices, units, status, queued_at_ms, priority, sort_key_ms)
       SELECT j, t, 0, c, jsonb_build_array(jsonb_build_object('index', 0, 'units', u, 'kind', 'whole')), u,
              'queued', qa, pr, sk
       FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::bigint[])
         AS x(j, t, c, u, qa, pr, sk)`,
      [
        part.map((j) => j.jobId),
        taskIds,
        part.map((j) => j.challengeType),
        part.map((j) => j.units),
        part.map((j) => j.enqueuedAtMs),
        part.map((j) => j.priority),
        part.map((j) => agedKey(j, params)),
      ],
    );
  }
  await db.query('ANALYZE jobs');
  await db.query('ANALYZE tasks');
}

/**
 * Updates of tasks and jobs in the schema and how many were HOT. Backends report their counts a
 * second or more after a transaction (up to 10 s when idle): waits until every in-progress task's
 * lease update is counted, or 15 s.
 */
async function rowUpdates(db) {
  const [{ n: started }] = await db.query(
    `SELECT count(*)::int AS n FROM tasks WHERE status = 'in_progress'`,
  );
  const read = () =>
    db.query(
      `SELECT relname, n_tup_upd::int AS upd, n_tup_hot_upd::int AS hot FROM pg_stat_user_tables
       WHERE schemaname = current_schema() AND relname IN ('tasks', 'jobs')`,
    );
  const deadline = performance.now() + 15_000;
  let rows = await read();
  while ((rows.find((r) => r.relname === 'tasks')?.upd ?? 0) < started && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    rows = await read();
  }
  const of = (name) => {
    const r = rows.find((x) => x.relname === name);
    return { upd: r?.upd ?? 0, hot: r?.hot ?? 0 };
  };
  return { tasks: of('tasks'), jobs: of('jobs') };
}

async function benchLoop() {
  const schema = `bench_sched_${process.pid}_${Date.now()}`;
  const db = await openDatabase({ databaseUrl: PG_URL, schema, poolSize: 4 });
  const lease = leaseJobs;
  try {
    const s0 = performance.now();
    await seed(db, makeJobs(DB_JOBS, SEED + 5));
    const seedMs = performance.now() - s0;
    const offers = makeOffers(OFFERS, SEED);
    const now = 1_700_000_100_000;

    const started = performance.now();
    const index = buildOfferIndex(offers, { params, seed: SEED });
    const built = performance.now();
    const running = { total: 0, low: 0 };
    const ticks = [];
    let leasedTotal = 0;
    let refused = 0;
    let unmatched = 0;

    /** Plans a tick's rows and starts their commit; resolves when it is settled in the index. */
    function planAndCommit(rows) {
      const t1 = performance.now();
      const byId = new Map(rows.map((r) => [r.jobId, r]));
      const plan = planOnIndex(rows, index, { params, running });
      const t2 = performance.now();
      const commit =
        plan.assignments.length === 0
          ? Promise.resolve([])
          : db.transaction((tx) =>
              lease(
                tx,
                plan.assignments.map((a) => ({
                  job_id: a.jobId,
                  worker_address: a.address,
                  lease_expires_at_ms: now + 30_000,
                  quote_price: (a.price / BigInt(byId.get(a.jobId).units)).toString(),
                })),
                now,
              ),
            );
      return commit.then((leasedRows) => {
        const t3 = performance.now();
        const leased = new Set(leasedRows.map((r) => r.job_id));
        for (const a of plan.assignments) {
          const job = byId.get(a.jobId);
          if (!leased.has(a.jobId)) {
            // Stale: the commit refused it, so the index gets the room back.
            index.release(index.entry(a.address), job.units);
            refused++;
            continue;
          }
          running.total++;
          if (job.priority === 'low') running.low++;
        }
        leasedTotal += leased.size;
        unmatched = plan.reasons.size;
        return { rows: rows.length, leased: leased.size, leasedRows, plan: t2 - t1, commit: t3 - t2 };
      });
    }

    // As the node does: the queue is loaded into memory once (the start-up cost, reported apart),
    // then each tick plans the head of each lane and commits the leases in one transaction, whose
    // lease statement returns the leased jobs' payloads to send. No queue rows are read per tick.
    const q0 = performance.now();
    const queue = new JobQueue(params);
    for (const lane of LANES) {
      queue.add(await queueHeads(db, typesOfLane(lane, params), DB_JOBS));
    }
    const queueLoadMs = performance.now() - q0;
    const loopStart = performance.now();
    for (;;) {
      const t0 = performance.now();
      const rows = [...queue.head('consumer', TICK), ...queue.head('industrial', TICK)].slice(0, TICK);
      if (rows.length === 0) break;
      const tick = await planAndCommit(rows);
      queue.remove(rows.map((r) => r.jobId));
      ticks.push({ ...tick, head: tick.plan, rows: rows.length });
      void t0;
      if (tick.leasedRows.some((r) => r.payload === undefined))
        throw new Error('payloads missing for leased jobs');
    }
    const ended = performance.now();
    const loopMs = ended - loopStart;
    const stat = (k) => percentiles(ticks.map((t) => t[k]));
    const check = await db.query(`SELECT count(*)::int AS n FROM jobs WHERE status = 'leased'`);
    if (check[0].n !== leasedTotal) throw new Error(`leased ${leasedTotal} but the table says ${check[0].n}`);
    const updates = await rowUpdates(db);
    const result = {
      offers: OFFERS,
      queued_jobs: DB_JOBS,
      tick_jobs: TICK,
      queue_load_ms: round(queueLoadMs),
      committed: leasedTotal,
      refused_at_commit: refused,
      left_unmatched: unmatched,
      ticks: ticks.length,
      seed_ms: round(seedMs),
      index_build_ms: round(built - started),
      loop_ms: round(loopMs),
      committed_per_sec: Math.round(leasedTotal / (loopMs / 1000)),
      // commit: the lease statement, which returns the leased jobs' payloads (no read after it).
      tick_ms: { plan: stat('plan'), commit: stat('commit') },
      time_share: {
        plan: round(ticks.reduce((n, t) => n + t.plan, 0) / loopMs, 3),
        commit: round(ticks.reduce((n, t) => n + t.commit, 0) / loopMs, 3),
      },
      // Row updates in the run and how many were HOT (no index entries written), from pg_stat_user_tables.
      updates,
    };
    console.log(
      `loop (PostgreSQL, in-memory queue loaded in ${result.queue_load_ms} ms): ${DB_JOBS} queued jobs, ${OFFERS} offers, ticks of ${TICK}: ` +
        `${result.committed_per_sec} committed assignments/s (${leasedTotal} in ${result.loop_ms} ms, ` +
        `${ticks.length} ticks, ${unmatched} left unmatched, ${refused} refused at commit)`,
    );
    console.log(
      `loop: per tick p50 plan ${result.tick_ms.plan.p50} ms, ` +
        `commit ${result.tick_ms.commit.p50} ms; p99 commit ${result.tick_ms.commit.p99} ms; index build ${result.index_build_ms} ms`,
    );
    console.log(
      `loop: row updates (HOT) tasks ${updates.tasks.upd} (${updates.tasks.hot}), jobs ${updates.jobs.upd} (${updates.jobs.hot})`,
    );
    return result;
  } finally {
    await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
    await db.close();
  }
}

// A run of one part keeps the other part's last figures.
let results = {};
try {
  const { matcher, loop } = JSON.parse(readFileSync('bench/results/scheduler.json', 'utf8'));
  results = { matcher, loop };
} catch {
  /* no earlier results */
}
if (values.part !== 'loop') results.matcher = benchMatcher();
if (values.part !== 'matcher') results.loop = await benchLoop();
console.log(`written to ${writeResults('scheduler', { cpus: 2, ...results })}`);
