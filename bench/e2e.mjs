// bench/e2e: many small synthetic tasks through real worker processes over real WebSockets:
// HTTP create (escrow) → dispatch → WebSocket job → worker thread → signed result → verify →
// complete. Prints tasks/s and p50/p99 create→completed latency on PostgreSQL and PGlite, then
// runs pg-boss and graphile-worker on the same PostgreSQL with the same job count and prints
// our ratio to each. Writes bench/results/e2e.json.
//
// --nodes N (PostgreSQL) also runs N nodes on one database, each with its own --workers, tasks
// spread over them, and prints the ratio to one node (--chain sets every node's chain, e.g. off).
//
// --bulk also runs PostgreSQL with the tasks created through POST /tasks/batch (BULK_CHUNK a
// request) and pg-boss with its bulk `insert` (the same chunks), and prints that ratio too; the
// headline stays one create per request against pg-boss `send`.
//
// Verification (README "Verification") is on, as a node starts, with the workers past probation
// (probation_jobs 0: honest providers the market already trusts); --verification both (default)
// also runs PostgreSQL with it off and prints the ratio, on | off runs only that.
//
//   npm run build && node bench/e2e.mjs [--tasks 5000] [--workers 3] [--slots 64] [--backend both]
//       [--nodes 2] [--chain dev|off] [--verification both|on|off] [--bulk]

import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { runGraphileWorker, runPgBoss } from './baselines.mjs';
import { call, fundedCustomer, OPERATOR_KEY, PG_URL, startNode, writeResults } from './lib.mjs';

const { values } = parseArgs({
  options: {
    tasks: { type: 'string', default: '5000' },
    workers: { type: 'string', default: '3' },
    slots: { type: 'string', default: '64' },
    concurrency: { type: 'string', default: '64' },
    backend: { type: 'string', default: 'both' },
    'no-baselines': { type: 'boolean', default: false },
    nodes: { type: 'string', default: '1' },
    chain: { type: 'string' },
    verification: { type: 'string', default: 'both' },
    bulk: { type: 'boolean', default: false },
  },
});
/** Tasks a POST /tasks/batch carries with --bulk (as bench/baselines.mjs's BULK_CHUNK). */
const BULK_CHUNK = 100;
const tasks = Number(values.tasks);
const workerCount = Number(values.workers);
const slots = Number(values.slots);
const concurrency = Number(values.concurrency);
const backends = values.backend === 'both' ? ['postgres', 'pglite'] : [values.backend];
const nodeCount = Number(values.nodes);
const chainEnv = values.chain ? { TASKMARKET_CHAIN: values.chain } : {};

/** CPU seconds (user + system) a process has used, from /proc; 0 when it is gone or not Linux. */
function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return 0;
  }
}

/** CPU seconds of every PostgreSQL process on this machine (the server the bench uses, and anything else on it). */
function postgresCpuSeconds() {
  let total = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim().startsWith('postgres')) total += cpuSeconds(pid);
    } catch {
      /* gone */
    }
  }
  return total;
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

async function startWorkers(url, dir, prefix = 'w') {
  const procs = [];
  for (let i = 0; i < workerCount; i++) {
    const key = join(dir, `${prefix}${i}.json`);
    await new Promise((resolve, reject) => {
      const p = spawn(process.execPath, ['dist/cli/main.js', 'worker', 'keygen', '--out', key], {
        stdio: 'ignore',
      });
      p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`keygen exited ${code}`))));
    });
    const prof = process.env.BENCH_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_PROF] : [];
    const args = [
      ...prof,
      'dist/cli/main.js',
      '--url',
      url,
      'worker',
      '--key',
      key,
      '--slots',
      String(slots),
    ];
    args.push('--price', '0.000001', '--units', '100000000', '--log-level', 'warn');
    procs.push(spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] }));
  }
  return procs;
}

/** create→completed latency per task, from the market's own job timestamps (ms). */
async function latencies(backend, node) {
  const sql = `SELECT queued_at_ms, finished_at_ms FROM jobs WHERE status = 'completed' AND verifies IS NULL`;
  if (backend === 'postgres') {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`SET search_path = "${node.schema}"`);
    const { rows } = await client.query(sql);
    await client.end();
    return rows.map((r) => ({ queued: Number(r.queued_at_ms), finished: Number(r.finished_at_ms) }));
  }
  const db = await PGlite.create(join(node.dataDir, 'pglite'));
  const { rows } = await db.query(sql);
  await db.close();
  return rows.map((r) => ({ queued: Number(r.queued_at_ms), finished: Number(r.finished_at_ms) }));
}

/** The scheduler parameters of a run: verification on (workers past probation) or off. */
function verificationParams(on) {
  return on
    ? { admission_enabled: false, probation_jobs: 0 }
    : { admission_enabled: false, verification_enabled: false };
}

/**
 * Scans (sequential and by index) of the webhook and task tables over the whole run, start-up
 * included, from PostgreSQL's statistics (flushed by the node's connections within a second).
 */
async function tableReads(node) {
  await sleep(1500);
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  const { rows } = await client.query(
    `SELECT relname, seq_scan + coalesce(idx_scan, 0) AS scans FROM pg_stat_user_tables
     WHERE schemaname = $1 AND relname IN ('task_webhooks', 'webhook_deliveries', 'tasks')`,
    [node.schema],
  );
  await client.end();
  return Object.fromEntries(rows.map((r) => [r.relname, Number(r.scans)]));
}

async function runMarket(backend, nodeCount = 1, verify = values.verification !== 'off', bulk = false) {
  const dir = mkdtempSync(join(tmpdir(), 'taskmarket-e2e-bench-'));
  const first = await startNode(backend, chainEnv);
  const nodes = [first];
  const workers = [];
  try {
    // More nodes share the first one's database (its schema).
    for (let i = 1; i < nodeCount; i++)
      nodes.push(await startNode(backend, { ...chainEnv, TASKMARKET_DATABASE_SCHEMA: first.schema }));
    for (const [i, n] of nodes.entries()) workers.push(...(await startWorkers(n.url, dir, `n${i}w`)));
    for (;;) {
      const { total } = await call(first.url, 'GET', '/offers', OPERATOR_KEY);
      if (total === workerCount * nodeCount) break;
      if (process.env.BENCH_DEBUG) console.error('offers', total);
      await sleep(50);
    }
    await call(first.url, 'PUT', '/params', OPERATOR_KEY, verificationParams(verify));
    const key = await fundedCustomer(first.url);
    const cpuBefore = {
      node: nodes.reduce((t, n) => t + cpuSeconds(n.pid), 0),
      workers: workers.reduce((t, w) => t + cpuSeconds(w.pid), 0),
      postgres: backend === 'postgres' ? postgresCpuSeconds() : 0,
    };
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const started = performance.now();
    let next = 0;
    let failures = 0;
    const task = (i) => ({
      challenge_type: 'synthetic',
      payload: { seed: i.toString(16).padStart(8, '0'), matrix_size: 2, iterations: 1 },
      reward: '0.001',
    });
    async function producer() {
      while (next < tasks) {
        const i = next++;
        const url = nodes[i % nodes.length].url;
        const res = await fetch(`${url}/tasks`, { method: 'POST', headers, body: JSON.stringify(task(i)) });
        if (res.status !== 201) failures++;
        await res.arrayBuffer();
      }
    }
    async function bulkProducer() {
      while (next < tasks) {
        const from = next;
        next = Math.min(tasks, next + BULK_CHUNK);
        const body = JSON.stringify({ tasks: Array.from({ length: next - from }, (_, k) => task(from + k)) });
        const url = nodes[(from / BULK_CHUNK) % nodes.length].url;
        const res = await fetch(`${url}/tasks/batch`, { method: 'POST', headers, body });
        if (res.status !== 200) failures += next - from;
        else failures += (await res.json()).refused;
      }
    }
    // Bulk requests carry BULK_CHUNK tasks each: fewer producers keep as many tasks in flight.
    const producers = bulk ? Math.max(1, Math.ceil(concurrency / 8)) : concurrency;
    await Promise.all(Array.from({ length: producers }, bulk ? bulkProducer : producer));
    const created = performance.now();
    for (;;) {
      const { total } = await call(first.url, 'GET', '/tasks?status=completed&limit=1', key);
      if (total >= tasks - failures) break;
      if (process.env.BENCH_DEBUG) console.error('completed', total, 'failures', failures);
      await sleep(20);
    }
    const wall = performance.now() - started;
    const cpu = {
      node: nodes.reduce((t, n) => t + cpuSeconds(n.pid), 0) - cpuBefore.node,
      workers: workers.reduce((t, w) => t + cpuSeconds(w.pid), 0) - cpuBefore.workers,
      postgres: backend === 'postgres' ? postgresCpuSeconds() - cpuBefore.postgres : 0,
    };
    const ledger = await call(first.url, 'GET', '/ledger/verify', OPERATOR_KEY);
    const commits = { one_statement: 0, long: 0 };
    for (const n of nodes) {
      const text = await (await fetch(`${n.url}/metrics`)).text();
      for (const m of text.matchAll(/^result_commits_total\{path="(\w+)"\} (\d+)$/gm))
        commits[m[1]] = (commits[m[1]] ?? 0) + Number(m[2]);
    }
    const reads = backend === 'postgres' ? await tableReads(first) : undefined;
    for (const w of workers) w.kill('SIGTERM');
    for (const n of nodes) await n.stop({ keepData: true });
    const rows = await latencies(backend, first);
    const lat = rows.map((r) => r.finished - r.queued).sort((a, b) => a - b);
    const firstQueued = Math.min(...rows.map((r) => r.queued));
    const last = Math.max(...rows.map((r) => r.finished));
    return {
      nodes: nodeCount,
      verification: verify,
      bulk,
      tasks: rows.length,
      create_failures: failures,
      tasks_per_sec: Math.round((rows.length / (last - firstQueued)) * 1000),
      wall_tasks_per_sec: Math.round((rows.length / wall) * 1000),
      create_phase_s: Number(((created - started) / 1000).toFixed(2)),
      latency_ms: { p50: percentile(lat, 50), p99: percentile(lat, 99), max: lat[lat.length - 1] },
      ledger_ok: ledger.ok,
      ...(reads ? { table_reads: reads } : {}),
      // Result batches committed in one statement (commit_results) and statement by statement.
      result_commits: commits,
      // CPU milliseconds per completed task, from creation of the first to completion of the last.
      cpu_ms_per_task: {
        node: Number(((cpu.node * 1000) / rows.length).toFixed(2)),
        workers: Number(((cpu.workers * 1000) / rows.length).toFixed(2)),
        postgres: Number(((cpu.postgres * 1000) / rows.length).toFixed(2)),
        total: Number((((cpu.node + cpu.workers + cpu.postgres) * 1000) / rows.length).toFixed(2)),
      },
    };
  } finally {
    for (const w of workers) w.kill('SIGKILL');
    for (const n of nodes.slice(1)) await n.stop({ keepData: true }).catch(() => {});
    await first.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

const results = {};
for (const backend of backends) {
  const r = await runMarket(backend);
  results[backend] = r;
  console.log(
    `task market (${backend}, verification ${r.verification ? 'on' : 'off'}): ${r.tasks_per_sec} tasks/s, p50 ${r.latency_ms.p50} ms, p99 ${r.latency_ms.p99} ms ` +
      `(${r.tasks} tasks, ${workerCount} workers × ${slots} slots, ledger ${r.ledger_ok ? 'balanced' : 'VIOLATED'}); ` +
      `CPU per task: node ${r.cpu_ms_per_task.node} ms, workers ${r.cpu_ms_per_task.workers} ms, ` +
      `PostgreSQL ${r.cpu_ms_per_task.postgres} ms, total ${r.cpu_ms_per_task.total} ms; ` +
      `result batches: ${r.result_commits.one_statement} in one statement, ${r.result_commits.long} the long way` +
      (r.table_reads ? `; table scans: ${JSON.stringify(r.table_reads)}` : ''),
  );
}
if (values.verification === 'both' && results.postgres) {
  const r = await runMarket('postgres', 1, false);
  results.postgres_verification_off = r;
  console.log(
    `task market (postgres, verification off): ${r.tasks_per_sec} tasks/s, p50 ${r.latency_ms.p50} ms — ` +
      `verification on runs at ${(results.postgres.tasks_per_sec / r.tasks_per_sec).toFixed(2)}× of off`,
  );
}
if (nodeCount > 1 && results.postgres) {
  const r = await runMarket('postgres', nodeCount);
  results.postgres_nodes = r;
  console.log(
    `task market (postgres, ${nodeCount} nodes): ${r.tasks_per_sec} tasks/s, p50 ${r.latency_ms.p50} ms, ` +
      `p99 ${r.latency_ms.p99} ms, ledger ${r.ledger_ok ? 'balanced' : 'VIOLATED'} — ` +
      `${(r.tasks_per_sec / results.postgres.tasks_per_sec).toFixed(2)}× one node`,
  );
}
if (values.bulk && results.postgres) {
  const r = await runMarket('postgres', 1, values.verification !== 'off', true);
  results.postgres_bulk = r;
  console.log(
    `task market (postgres, bulk creates of ${BULK_CHUNK}): ${r.tasks_per_sec} tasks/s, p50 ${r.latency_ms.p50} ms, ` +
      `p99 ${r.latency_ms.p99} ms; CPU per task: node ${r.cpu_ms_per_task.node} ms, workers ${r.cpu_ms_per_task.workers} ms, ` +
      `PostgreSQL ${r.cpu_ms_per_task.postgres} ms, total ${r.cpu_ms_per_task.total} ms`,
  );
}
if (!values['no-baselines']) {
  const baselines = [
    await runPgBoss({ connectionString: PG_URL, jobs: tasks, concurrency: 32 }),
    await runGraphileWorker({ connectionString: PG_URL, jobs: tasks, concurrency: 32, batched: false }),
    await runGraphileWorker({ connectionString: PG_URL, jobs: tasks, concurrency: 32, batched: true }),
  ];
  results.baselines = baselines;
  const ours = results.postgres?.tasks_per_sec;
  for (const b of baselines) {
    const ratio = ours ? ` — task market on PostgreSQL is ${(ours / b.jobs_per_sec).toFixed(2)}×` : '';
    console.log(
      `${b.name}: ${Math.round(b.jobs_per_sec)} jobs/s, p50 ${b.p50_ms} ms, p99 ${b.p99_ms} ms${ratio}`,
    );
  }
  if (values.bulk) {
    const b = await runPgBoss({ connectionString: PG_URL, jobs: tasks, concurrency: 32, bulk: true });
    results.baselines_bulk = [b];
    const ours = results.postgres_bulk?.tasks_per_sec;
    const ratio = ours
      ? ` — task market on PostgreSQL with bulk creates is ${(ours / b.jobs_per_sec).toFixed(2)}×`
      : '';
    console.log(`${b.name} (bulk insert): ${Math.round(b.jobs_per_sec)} jobs/s, p50 ${b.p50_ms} ms${ratio}`);
  }
}
console.log(
  `written to ${writeResults('e2e', { tasks, workers: workerCount, slots, concurrency, results })}`,
);
