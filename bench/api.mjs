// bench/api: task creations (each with its escrow posting) and task reads through real HTTP,
// against a real node process, on PGlite and on PostgreSQL. Prints requests/s and p50/p99
// latency and writes bench/results/api.json.
//
//   npm run build && node bench/api.mjs [--duration 10] [--connections 64] [--backend pglite|postgres|both]

import autocannon from 'autocannon';
import { parseArgs } from 'node:util';
import { call, fundedCustomer, OPERATOR_KEY, startNode, writeResults } from './lib.mjs';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '64' },
    backend: { type: 'string', default: 'both' },
  },
});
const duration = Number(values.duration);
const connections = Number(values.connections);
const backends = values.backend === 'both' ? ['postgres', 'pglite'] : [values.backend];

const body = JSON.stringify({
  challenge_type: 'synthetic',
  payload: { seed: '1234abcd5678ef90', matrix_size: 64, iterations: 10 },
  reward: '0.001',
});

function run(opts) {
  return new Promise((resolve, reject) => {
    const instance = autocannon({ duration, connections, pipelining: 1, ...opts }, (err, result) =>
      err ? reject(err) : resolve(result),
    );
    autocannon.track(instance, {
      renderProgressBar: false,
      renderResultsTable: false,
      renderLatencyTable: false,
    });
  });
}

function summary(result) {
  return {
    requests_per_sec: Math.round(result.requests.average),
    total: result.requests.total,
    non_2xx: result.non2xx,
    errors: result.errors,
    latency_ms: {
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      max: result.latency.max,
    },
  };
}

const results = {};
for (const backend of backends) {
  const node = await startNode(backend);
  try {
    // The bench measures the API, and no provider is connected: industrial admission would
    // refuse every create for capacity (503), so it is turned off for the run.
    await call(node.url, 'PUT', '/params', OPERATOR_KEY, { admission_enabled: false });
    const key = await fundedCustomer(node.url);
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    // Warm up the JIT, the pool and the caches before measuring.
    await run({ url: `${node.url}/tasks`, method: 'POST', headers, body, duration: 2 });
    const create = summary(await run({ url: `${node.url}/tasks`, method: 'POST', headers, body }));

    const ids = (await call(node.url, 'GET', '/tasks?limit=1000', key)).tasks.map((t) => t.task_id);
    let i = 0;
    const read = summary(
      await run({
        url: node.url,
        headers: { authorization: `Bearer ${key}` },
        requests: [
          { method: 'GET', setupRequest: (req) => ({ ...req, path: `/tasks/${ids[i++ % ids.length]}` }) },
        ],
      }),
    );
    const ledger = await call(node.url, 'GET', '/ledger/verify', (await import('./lib.mjs')).OPERATOR_KEY);
    results[backend] = { create, read, ledger_ok: ledger.ok };
    console.log(
      `${backend}: create ${create.requests_per_sec}/s p50 ${create.latency_ms.p50} ms p99 ${create.latency_ms.p99} ms (non-2xx ${create.non_2xx})`,
    );
    console.log(
      `${backend}: read   ${read.requests_per_sec}/s p50 ${read.latency_ms.p50} ms p99 ${read.latency_ms.p99} ms (non-2xx ${read.non_2xx})`,
    );
    console.log(`${backend}: ledger ${ledger.ok ? 'balanced' : 'VIOLATED'}`);
  } finally {
    await node.stop();
  }
}
console.log(`written to ${writeResults('api', { duration_s: duration, connections, results })}`);
