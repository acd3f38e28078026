// bench/one-task: one task at a time through an idle node (issue #11: "under 50 ms for one task on
// an idle node"). A node on PostgreSQL (or PGlite) with one real worker process, verification on
// and the worker past probation as in bench/e2e; each task is created only after the previous one
// completed and a pause, so every task meets an idle node. Prints p50/p90 of create → completed
// as the client sees it (POST sent → GET shows `completed`, polled every 2 ms) and the market's
// own split from its job timestamps: queued → started (dispatch and the job message) and
// started → finished (the worker, its result message and the result commit).
//
//   npm run build && node bench/one-task.mjs [--tasks 40] [--backend postgres|pglite] [--pause-ms 200]

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { call, fundedCustomer, OPERATOR_KEY, PG_URL, startNode, writeResults } from './lib.mjs';

const { values } = parseArgs({
  options: {
    tasks: { type: 'string', default: '40' },
    backend: { type: 'string', default: 'postgres' },
    'pause-ms': { type: 'string', default: '200' },
  },
});
const tasks = Number(values.tasks);
const pauseMs = Number(values['pause-ms']);

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))];
};

const node = await startNode(values.backend);
const dir = mkdtempSync(join(tmpdir(), 'taskmarket-one-task-'));
let worker;
try {
  const key = join(dir, 'w.json');
  await new Promise((resolve, reject) =>
    spawn(process.execPath, ['dist/cli/main.js', 'worker', 'keygen', '--out', key], { stdio: 'ignore' }).on(
      'exit',
      (code) => (code === 0 ? resolve() : reject(new Error(`keygen exited ${code}`))),
    ),
  );
  worker = spawn(
    process.execPath,
    [
      'dist/cli/main.js',
      '--url',
      node.url,
      'worker',
      '--key',
      key,
      '--slots',
      '4',
      '--price',
      '0.000001',
      '--units',
      '100000000',
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  for (let i = 0; (await call(node.url, 'GET', '/offers', OPERATOR_KEY)).total < 1; i++) {
    if (i > 600) throw new Error('the worker posted no offer in 30 s');
    await sleep(50);
  }
  await call(node.url, 'PUT', '/params', OPERATOR_KEY, { admission_enabled: false, probation_jobs: 0 });
  const apiKey = await fundedCustomer(node.url);
  const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
  const client = [];
  const ids = [];
  for (let i = 0; i < tasks; i++) {
    await sleep(pauseMs);
    const body = JSON.stringify({
      challenge_type: 'synthetic',
      payload: { seed: i.toString(16).padStart(8, '0'), matrix_size: 2, iterations: 1 },
      reward: '0.001',
    });
    const t0 = performance.now();
    const res = await fetch(`${node.url}/tasks`, { method: 'POST', headers, body });
    const { task_id } = await res.json();
    for (;;) {
      const t = await (await fetch(`${node.url}/tasks/${task_id}`, { headers })).json();
      if (t.status === 'completed') break;
      if (t.status === 'failed' || t.status === 'cancelled') throw new Error(`task ${t.status}`);
      await sleep(2);
    }
    client.push(performance.now() - t0);
    ids.push(task_id);
  }
  const sql = `SELECT queued_at_ms AS queued_at, started_at_ms AS started_at, finished_at_ms AS finished_at FROM jobs WHERE task_id = ANY($1) AND verifies IS NULL`;
  let rows;
  if (values.backend === 'postgres') {
    const db = new pg.Client({ connectionString: PG_URL });
    await db.connect();
    await db.query(`SET search_path = "${node.schema}"`);
    rows = (await db.query(sql, [ids])).rows;
    await db.end();
  }
  const split = rows?.map((r) => ({
    dispatch: Number(r.started_at) - Number(r.queued_at),
    run: Number(r.finished_at) - Number(r.started_at),
    market: Number(r.finished_at) - Number(r.queued_at),
  }));
  const result = {
    backend: values.backend,
    tasks,
    client_ms: { p50: Math.round(pct(client, 50)), p90: Math.round(pct(client, 90)) },
    ...(split
      ? {
          queued_to_started_ms: {
            p50: pct(
              split.map((s) => s.dispatch),
              50,
            ),
          },
          started_to_finished_ms: {
            p50: pct(
              split.map((s) => s.run),
              50,
            ),
          },
          queued_to_finished_ms: {
            p50: pct(
              split.map((s) => s.market),
              50,
            ),
          },
        }
      : {}),
  };
  console.log(
    `one task on an idle node (${values.backend}): create → completed p50 ${result.client_ms.p50} ms, ` +
      `p90 ${result.client_ms.p90} ms (client, ${tasks} tasks)` +
      (split
        ? `; market: queued → started ${result.queued_to_started_ms.p50} ms, started → finished ` +
          `${result.started_to_finished_ms.p50} ms, queued → finished ${result.queued_to_finished_ms.p50} ms`
        : ''),
  );
  console.log(`written to ${writeResults('one-task', result)}`);
} finally {
  worker?.kill('SIGKILL');
  await node.stop().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}
