// Shared bench plumbing: start a real `taskmarket serve` process, make a funded customer, seed a
// database with completed tasks, and write figures to bench/results/.

import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { generateKeyPair } from '../dist/domain/identity.js';
import { SYSTEM_ACCOUNTS, transfer } from '../dist/domain/ledger.js';
import { appendJournals } from '../dist/store/ledger.js';

export const OPERATOR_KEY = 'tmop_bench-operator-key-000000000000';
export const PG_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * The opt-in memory settings of README "Memory": glibc's malloc hands allocations of 32 KiB and up
 * straight to mmap, so V8's compiler threads give their working memory back when done, and V8's
 * young generation is capped at 4 MB a semi-space. They must be set when the process starts.
 * Nodes start without them unless BENCH_NODE_TUNING=on (bench/memory measures both). Figures in
 * docs/decisions.md.
 */
export const NODE_TUNING = Object.freeze({
  env: Object.freeze({ MALLOC_MMAP_THRESHOLD_: '32768' }),
  args: Object.freeze(['--max-semi-space-size=4']),
});

/** Node arguments and environment for a `serve` process: with NODE_TUNING or bare. */
export function nodeLaunch(tuned = process.env.BENCH_NODE_TUNING === 'on') {
  return tuned ? { args: [...NODE_TUNING.args], env: { ...NODE_TUNING.env } } : { args: [], env: {} };
}

/** Starts a node on PGlite (fresh data dir) or PostgreSQL (fresh schema). */
export async function startNode(backend, extraEnv = {}) {
  const launch = nodeLaunch();
  const dataDir = mkdtempSync(join(tmpdir(), 'taskmarket-bench-'));
  const schema = `bench_${process.pid}_${Date.now()}`;
  const args = [
    ...launch.args,
    ...(process.env.BENCH_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_PROF] : []),
    'dist/cli/main.js',
    'serve',
    '--port',
    '0',
    '--data-dir',
    dataDir,
  ];
  if (backend === 'postgres') args.push('--database-url', PG_URL);
  const proc = spawn(process.execPath, args, {
    env: {
      ...process.env,
      ...launch.env,
      TASKMARKET_OPERATOR_KEY: OPERATOR_KEY,
      TASKMARKET_DATABASE_SCHEMA: backend === 'postgres' ? schema : '',
      TASKMARKET_DB_POOL_SIZE: '16',
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`node exited with ${code}`)));
    createInterface({ input: proc.stdout }).on('line', (line) => {
      try {
        const entry = JSON.parse(line);
        if (entry.msg === 'market node listening') resolve(entry.url);
        else if (entry.level >= 40) console.error(line);
        else if (process.env.BENCH_DEBUG) console.error(line.slice(0, 300));
      } catch {
        /* not a log line */
      }
    });
  });
  let stopped = false;
  return {
    url,
    pid: proc.pid,
    schema,
    dataDir,
    /** Stops the node; unless keepData, drops its schema (PostgreSQL). Safe to call twice. */
    async stop({ keepData = false } = {}) {
      if (!stopped) {
        stopped = true;
        const exited = new Promise((resolve) => proc.once('exit', resolve));
        proc.kill('SIGTERM');
        await exited;
      }
      if (!keepData && backend === 'postgres') {
        const client = new pg.Client({ connectionString: PG_URL });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await client.end();
      }
    },
  };
}

export async function call(url, method, path, key, body) {
  const res = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

export async function fundedCustomer(url, amount = '1000000000') {
  const account = await call(url, 'POST', '/accounts', OPERATOR_KEY, { name: 'bench' });
  await call(url, 'POST', `/accounts/${account.account_id}/fund`, OPERATOR_KEY, { amount });
  return account.api_key;
}

export function writeResults(name, results) {
  mkdirSync('bench/results', { recursive: true });
  const file = join('bench/results', `${name}.json`);
  writeFileSync(
    file,
    JSON.stringify({ at: new Date().toISOString(), node: process.version, ...results }, null, 2) + '\n',
  );
  return file;
}

export const CPC = 10n ** 18n;

/**
 * Writes `tasks` tasks, each with `jobsPerTask` completed jobs of 2 units at 1 CPC a unit, held in
 * escrow (1 CPC more than the work, refunded at settlement) by up to `customers` funded buyers in
 * turn and done by `providers` workers, straight into the tables. Returns each task's result and
 * main worker in creation order, as the dispatcher hands them to store.completeTasks, and the
 * number of receipts (jobs) settlement will apply.
 */
export async function seedCompleted(db, { tasks, jobsPerTask = 1, customers = 1000, providers = 100 }) {
  const units = 2;
  const price = CPC;
  const reward = BigInt(jobsPerTask * units) * price + CPC;
  const buyers = Array.from({ length: Math.min(customers, tasks) }, () => randomUUID());
  const workers = Array.from({ length: providers }, () => generateKeyPair().address);
  const now = Date.now();
  await db.query(
    `INSERT INTO accounts (account_id, name, kind, created_at_ms)
     SELECT id, 'bench', 'customer', $2 FROM unnest($1::uuid[]) AS id`,
    [buyers, now],
  );
  await db.query(
    `INSERT INTO balances (account_id, asset) SELECT id, asset FROM unnest($1::uuid[]) AS id, unnest($2::text[]) AS asset`,
    [buyers, ['CPC', 'IT']],
  );
  await appendJournals(
    db,
    buyers.flatMap((buyer, c) => {
      const count = Math.floor(tasks / buyers.length) + (c < tasks % buyers.length ? 1 : 0);
      const total = reward * BigInt(count);
      return [
        {
          journalId: randomUUID(),
          kind: 'fund',
          ref: null,
          postings: transfer(SYSTEM_ACCOUNTS.external, buyer, 'CPC', total),
        },
        {
          journalId: randomUUID(),
          kind: 'escrow_hold',
          ref: null,
          postings: transfer(buyer, SYSTEM_ACCOUNTS.escrow, 'CPC', total),
        },
      ];
    }),
    now,
  );
  // escrow_ct is filled as task creation does (migration 0012).
  await db.query(
    `INSERT INTO tasks (task_id, account_id, challenge_type, payload, asset, reward, escrow_held, escrow_ct, status, result_hash,
                        worker_address, completed_at_ms, created_at_ms, updated_at_ms, units, jobs_total, jobs_done)
     SELECT gen_random_uuid(), ($1::uuid[])[1 + i % $9::int], 'gpuhash', '{}', 'CPC', $2::numeric, $2::numeric, $2::numeric, 'in_progress',
            encode(sha256(i::text::bytea), 'hex'), ($3::text[])[1 + i % $4::int], $5::bigint, $5::bigint, $5::bigint, $6::int * $7::int, $7::int, $7::int
     FROM generate_series(0, $8::int - 1) AS i`,
    [buyers, reward.toString(), workers, providers, now, units, jobsPerTask, tasks, buyers.length],
  );
  await db.query(
    `INSERT INTO jobs (job_id, task_id, idx, challenge_type, slices, units, status, worker_address, result_hash,
                       quote_price, queued_at_ms, started_at_ms, finished_at_ms)
     SELECT gen_random_uuid(), t.task_id, k, 'gpuhash', '[]', $1, 'completed', t.worker_address,
            encode(sha256((t.seq::text || ':' || k)::bytea), 'hex'), $2::numeric, $3::bigint, $3::bigint, $3::bigint
     FROM tasks t CROSS JOIN generate_series(0, $4::int - 1) AS k`,
    [units, price.toString(), now, jobsPerTask],
  );
  await db.query('ANALYZE');
  const done = await db.query('SELECT task_id, result_hash, worker_address FROM tasks ORDER BY seq');
  return { done, receipts: tasks * jobsPerTask };
}
