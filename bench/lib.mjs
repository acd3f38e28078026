// Shared bench plumbing: start a real `taskmarket serve` process, make a funded customer,
// and write figures to bench/results/.

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';

export const OPERATOR_KEY = 'tmop_bench-operator-key-000000000000';
export const PG_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Starts a node on PGlite (fresh data dir) or PostgreSQL (fresh schema). */
export async function startNode(backend, extraEnv = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'taskmarket-bench-'));
  const schema = `bench_${process.pid}_${Date.now()}`;
  const args = [
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
