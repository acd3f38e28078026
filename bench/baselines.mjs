// Baselines for the end-to-end benchmark: the same "enqueue N small jobs, run a no-op
// handler on each" workload on two established PostgreSQL job queues, so our numbers
// have something to be read against.
//
//   node bench/baselines.mjs [--jobs 10000] [--concurrency 32] [--bulk]
//
// Both runners use the same shape of test:
//   - a fresh schema with a random suffix per run, dropped (CASCADE) at the end;
//   - `concurrency` concurrent producers, each enqueueing ONE job per call
//     (pg-boss `send`, graphile-worker `addJob`) on their own pool of `concurrency`
//     connections, separate from the workers' pool, as producers and workers are
//     usually separate processes. By default neither library's bulk API is used: jobs
//     arrive one by one, as they do through our API. With `bulk: true` (CLI `--bulk`)
//     the producers instead call the bulk API (pg-boss `insert`, graphile-worker
//     `addJobs`) with BULK_CHUNK jobs per call, which takes the enqueue cost out of
//     the picture and shows what the workers alone can drain;
//   - a no-op handler at `concurrency` parallelism;
//   - latency of a job = (handler invoked) − (start of the enqueue call), keyed by the
//     payload's `i` (a worker can pick a job up before the producer's insert call
//     has returned the job's id, so the id cannot be the key);
//   - elapsed = first enqueue → last handler invocation; jobs/s = jobs / elapsed.
// "Completion" is the handler running; both libraries then mark the job done in the
// database after the handler returns (pg-boss without awaiting it, graphile-worker
// possibly batched). Before stopping we wait until the database shows every job
// completed, so a run that loses jobs fails instead of reporting a number.

import { randomBytes } from 'node:crypto';
import { clearTimeout } from 'node:timers';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Logger, makeWorkerUtils, run } from 'graphile-worker';
import PgBoss from 'pg-boss';
import pg from 'pg';

const DEFAULT_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

function randomSchema(prefix) {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

async function dropSchema(connectionString, schema) {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** Enqueue/completion bookkeeping shared by both runners. */
function makeTracker(jobs, timeoutMs) {
  const enqueuedAt = new Float64Array(jobs);
  const completedAt = new Float64Array(jobs);
  let done = 0;
  let firstEnqueue = Infinity;
  let lastCompletion = 0;
  let resolveAll;
  let rejectAll;
  const all = new Promise((resolve, reject) => {
    resolveAll = resolve;
    rejectAll = reject;
  });
  const timer = setTimeout(() => rejectAll(new Error(`timed out: ${done}/${jobs} jobs ran`)), timeoutMs);
  timer.unref();
  return {
    all,
    enqueued(i) {
      const t = performance.now();
      enqueuedAt[i] = t;
      if (t < firstEnqueue) firstEnqueue = t;
    },
    completed(i) {
      if (!(i >= 0 && i < jobs) || completedAt[i] !== 0) return; // ignore a repeat delivery
      const t = performance.now();
      completedAt[i] = t;
      if (t > lastCompletion) lastCompletion = t;
      if (++done === jobs) {
        clearTimeout(timer);
        resolveAll();
      }
    },
    fail(error) {
      clearTimeout(timer);
      rejectAll(error);
    },
    result(name) {
      const latencies = new Float64Array(jobs);
      for (let i = 0; i < jobs; i++) latencies[i] = completedAt[i] - enqueuedAt[i];
      latencies.sort();
      const elapsed = lastCompletion - firstEnqueue;
      return {
        name,
        jobs,
        elapsed_ms: Math.round(elapsed),
        jobs_per_sec: Math.round(jobs / (elapsed / 1000)),
        p50_ms: Math.round(percentile(latencies, 50) * 10) / 10,
        p99_ms: Math.round(percentile(latencies, 99) * 10) / 10,
      };
    },
  };
}

const BULK_CHUNK = 100;

/**
 * `concurrency` producers pulling the next index (or, in bulk mode, the next chunk of
 * BULK_CHUNK indexes) from a shared counter.
 */
async function produce(jobs, concurrency, tracker, { bulk, enqueueOne, enqueueMany }) {
  let next = 0;
  const producer = async () => {
    while (next < jobs) {
      if (bulk) {
        const from = next;
        next = Math.min(jobs, next + BULK_CHUNK);
        const indexes = Array.from({ length: next - from }, (_, k) => from + k);
        for (const i of indexes) tracker.enqueued(i);
        await enqueueMany(indexes);
      } else {
        const i = next++;
        tracker.enqueued(i);
        await enqueueOne(i);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, jobs) }, producer));
}

async function waitUntil(check, timeoutMs, what) {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function defaultTimeout(jobs) {
  return 60_000 + jobs * 20;
}

/**
 * pg-boss 10.4.
 *
 * Enqueue: `send(queue, { i })`, one job per call (or with `bulk`, `insert([...])` of
 * BULK_CHUNK jobs per call), from `concurrency` producers on a second PgBoss instance
 * (no maintenance, no cron) over the same schema.
 *
 * Work: `concurrency` `work()` registrations (pg-boss 10 has no teamSize; each
 * registration is one polling loop), each `{ batchSize, pollingIntervalSeconds: 0.5 }`.
 * 0.5 s is pg-boss's minimum, and pg-boss 10 has no LISTEN/NOTIFY: every loop sleeps
 * out the rest of its polling interval after EVERY fetch, even a full one, so each loop
 * takes at most `batchSize` jobs per 0.5 s. Throughput is therefore capped at
 * concurrency × batchSize × 2 per second, and latency is dominated by the polling
 * interval. `batchSize` (default 100) makes that cap well above what the producers can
 * insert on a small machine; the handler receives an array and does nothing.
 */
export async function runPgBoss({
  connectionString = DEFAULT_URL,
  jobs = 10_000,
  concurrency = 32,
  batchSize = 100,
  pollingIntervalSeconds = 0.5,
  bulk = false,
  timeoutMs = defaultTimeout(jobs),
} = {}) {
  const schema = randomSchema('pgboss_bench');
  const queue = 'bench';
  const tracker = makeTracker(jobs, timeoutMs);
  const errors = [];
  const onError = (error) => errors.push(error);

  const boss = new PgBoss({
    connectionString,
    schema,
    max: concurrency + 2,
    schedule: false, // no cron in this workload
    application_name: 'bench-pgboss-worker',
  });
  boss.on('error', onError);
  const producer = new PgBoss({
    connectionString,
    schema,
    max: concurrency,
    supervise: false,
    schedule: false,
    migrate: false,
    application_name: 'bench-pgboss-producer',
  });
  producer.on('error', onError);

  let started = false;
  try {
    await boss.start();
    started = true;
    await boss.createQueue(queue);
    await producer.start();

    for (let w = 0; w < concurrency; w++) {
      await boss.work(queue, { batchSize, pollingIntervalSeconds }, async (batch) => {
        for (const job of batch) tracker.completed(job.data.i);
      });
    }

    await Promise.all([
      produce(jobs, concurrency, tracker, {
        bulk,
        enqueueOne: (i) => producer.send(queue, { i }),
        enqueueMany: (indexes) => producer.insert(indexes.map((i) => ({ name: queue, data: { i } }))),
      }).catch((e) => tracker.fail(e)),
      tracker.all,
    ]);
    const result = tracker.result('pg-boss 10.4');

    // The worker marks jobs completed without awaiting it; let that land (and check it).
    await waitUntil(
      async () => (await boss.getQueueSize(queue, { before: 'completed' })) === 0,
      30_000,
      'pg-boss to record every job completed',
    );
    return result;
  } catch (error) {
    if (errors.length) error.message += ` (first pg-boss error: ${errors[0].message})`;
    throw error;
  } finally {
    await producer.stop({ graceful: false, close: true });
    if (started) await boss.stop({ graceful: true, wait: true, timeout: 5_000, close: true });
    await dropSchema(connectionString, schema);
  }
}

/**
 * graphile-worker 0.17.
 *
 * Enqueue: `addJob('noop', { i })` via `makeWorkerUtils`, one job per call (or with
 * `bulk`, `addJobs([...])` of BULK_CHUNK jobs per call), from `concurrency` producers on
 * the utils' own pool (max `concurrency`).
 *
 * Work: `run({ concurrency, maxPoolSize: concurrency + 2, pollInterval: 500, taskList })`.
 * graphile-worker also LISTENs for new-job notifications, so the poll interval only
 * matters when workers are idle.
 *
 * `batched: true` turns on the batching described in graphile-worker's performance
 * docs (preset options `worker.localQueue` and `worker.completeJobBatchDelay`):
 * `localQueue.size = concurrency + 1` (the pool locks a batch of jobs up front and hands
 * them to its workers without a round trip each; the docs' suggested starting point)
 * and `completeJobBatchDelay: 0` (completions issued in the same tick go to the
 * database as one query).
 */
export async function runGraphileWorker({
  connectionString = DEFAULT_URL,
  jobs = 10_000,
  concurrency = 32,
  batched = false,
  pollInterval = 500,
  bulk = false,
  timeoutMs = defaultTimeout(jobs),
} = {}) {
  const schema = randomSchema('gw_bench');
  const name = batched ? 'graphile-worker 0.17 (local queue)' : 'graphile-worker 0.17';
  const tracker = makeTracker(jobs, timeoutMs);
  const warnings = [];
  // Drop debug/info; errors go to stderr; warnings are kept for a failure message
  // (stop() without a reason logs "Runner stopping" as a warning).
  const logger = new Logger(() => (level, message) => {
    if (level === 'error') console.error(`[${name}] ${message}`);
    else if (level === 'warning') warnings.push(message);
  });

  let utils;
  let runner;
  try {
    utils = await makeWorkerUtils({ connectionString, schema, logger, maxPoolSize: concurrency });
    await utils.migrate();

    runner = await run({
      connectionString,
      schema,
      logger,
      concurrency,
      maxPoolSize: concurrency + 2,
      pollInterval,
      noHandleSignals: true,
      parsedCronItems: [], // no crontab file lookup
      taskList: {
        noop: async (payload) => {
          tracker.completed(payload.i);
        },
      },
      ...(batched
        ? { preset: { worker: { localQueue: { size: concurrency + 1 }, completeJobBatchDelay: 0 } } }
        : {}),
    });

    await Promise.all([
      produce(jobs, concurrency, tracker, {
        bulk,
        enqueueOne: (i) => utils.addJob('noop', { i }),
        enqueueMany: (indexes) => utils.addJobs(indexes.map((i) => ({ identifier: 'noop', payload: { i } }))),
      }).catch((e) => tracker.fail(e)),
      tracker.all,
    ]);
    const result = tracker.result(name);

    // Completed jobs are deleted; wait for (possibly batched) completions to land.
    await waitUntil(
      async () => {
        const { rows } = await utils.withPgClient((client) =>
          client.query(`select count(*)::int as n from "${schema}"._private_jobs`),
        );
        return rows[0].n === 0;
      },
      30_000,
      'graphile-worker to record every job completed',
    );
    return result;
  } catch (error) {
    if (warnings.length) error.message += ` (graphile-worker warnings: ${warnings.slice(0, 3).join(' | ')})`;
    throw error;
  } finally {
    if (runner) await runner.stop();
    if (utils) await utils.release();
    await dropSchema(connectionString, schema);
  }
}

function format(r) {
  return `${r.name}: ${r.jobs_per_sec} jobs/s, p50 ${Math.round(r.p50_ms)} ms, p99 ${Math.round(r.p99_ms)} ms`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      jobs: { type: 'string', default: '10000' },
      concurrency: { type: 'string', default: '32' },
      bulk: { type: 'boolean', default: false },
    },
  });
  const jobs = Number(values.jobs);
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(jobs) || jobs < 1 || !Number.isInteger(concurrency) || concurrency < 1) {
    console.error('usage: node bench/baselines.mjs [--jobs N] [--concurrency N] [--bulk]');
    process.exit(2);
  }
  const opts = { connectionString: DEFAULT_URL, jobs, concurrency, bulk: values.bulk };
  console.log(format(await runPgBoss(opts)));
  console.log(format(await runGraphileWorker({ ...opts, batched: false })));
  console.log(format(await runGraphileWorker({ ...opts, batched: true })));
}
