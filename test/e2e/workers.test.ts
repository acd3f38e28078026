// End to end with real processes: a market node and three `taskmarket worker` agents over real
// WebSockets run every task type to completion, checking each other's results (verification is
// on); one worker is killed with SIGKILL mid-job and its job still completes elsewhere; a forged
// result is refused; a cheating provider (scripted by the test) is caught and paid nothing.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TaskMarketClient } from '../../src/client/client.js';
import type { JobView, TaskView } from '../../src/domain/schemas/tasks.js';
import { dropSchema, freshSchema, TEST_DATABASE_URL } from '../helpers/db.js';
import { EXAMPLE_PAYLOADS, OPERATOR_KEY } from '../helpers/market.js';
import { BIN, cli, startNode, type Node } from '../helpers/processes.js';
import { CPU_CAPABILITY, ScriptedWorker } from '../helpers/ws-worker.js';
import { until } from '../helpers/until.js';

const dir = mkdtempSync(join(tmpdir(), 'taskmarket-workers-'));
const schema = freshSchema();
let node: Node;
let inference: Server;
const workers = new Map<string, ChildProcess>();
let cheat: ScriptedWorker | undefined;

function writeFileCommand(name: string): string[] {
  const script = `require('fs').writeFileSync(require('path').join(process.env.TASKMARKET_OUTPUT_DIR, '${name}'), 'done ' + (process.env.TASKMARKET_FRAME || 'all') + ' ' + require('fs').readFileSync(process.env.TASKMARKET_PAYLOAD, 'utf8'))`;
  return [process.execPath, '-e', script];
}

async function startWorker(i: number, inferenceUrl: string): Promise<string> {
  const key = join(dir, `worker${i}.json`);
  const gen = await cli(['worker', 'keygen', '--out', key, '--name', `w${i}`]);
  expect(gen.code, gen.stderr).toBe(0);
  const address = gen.stdout
    .trim()
    .split(/\s+/)
    .find((w) => w.startsWith('cpc1')) as string;
  const config = join(dir, `worker${i}.toml`);
  writeFileSync(
    config,
    [
      'slots = 2',
      'log_level = "warn"',
      '[offer]',
      'units = 100000',
      'price_per_unit = "0.0001"',
      '[runners.inference]',
      `url = "${inferenceUrl}"`,
      'models = ["gpt-3.5-turbo"]',
      '[runners.training]',
      `command = ${JSON.stringify(writeFileCommand('model.txt'))}`,
      '[runners.rendering]',
      `command = ${JSON.stringify(writeFileCommand('frame.txt'))}`,
    ].join('\n'),
  );
  const proc = spawn(process.execPath, [BIN, '--url', node.url, 'worker', '--key', key, '--config', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  proc.stderr?.resume();
  workers.set(address, proc);
  return address;
}

beforeAll(async () => {
  inference = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const { prompt } = JSON.parse(body) as { prompt: string };
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ choices: [{ text: `echo: ${prompt}` }] }));
    });
  });
  await new Promise<void>((r) => inference.listen(0, '127.0.0.1', r));
  const address = inference.address();
  const inferenceUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  node = await startNode(
    ['--data-dir', join(dir, 'node'), ...(TEST_DATABASE_URL ? ['--database-url', TEST_DATABASE_URL] : [])],
    {
      TASKMARKET_OPERATOR_KEY: OPERATOR_KEY,
      TASKMARKET_DATABASE_SCHEMA: TEST_DATABASE_URL ? schema : '',
      TASKMARKET_LEASE_MS: '5000',
      TASKMARKET_HEARTBEAT_INTERVAL_MS: '500',
      TASKMARKET_LOG_LEVEL: 'warn',
    },
  );
  for (let i = 0; i < 3; i++) await startWorker(i, inferenceUrl);
}, 120_000);

afterAll(async () => {
  cheat?.close();
  for (const p of workers.values()) p.kill('SIGKILL');
  await node?.stop();
  await new Promise<void>((r) => inference?.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
  await dropSchema(schema);
});

it('runs every task type to completion, surviving a worker killed mid-job', async () => {
  const operator = new TaskMarketClient({ url: node.url, apiKey: OPERATOR_KEY });
  await until('three offers', async () =>
    (await operator.request<{ total: number }>('GET', '/offers')).total === 3 ? true : undefined,
  );
  // Not a test of admission: tasks created in the second after the offers could meet a capacity
  // window not yet sampled (503 capacity).
  await operator.request('PUT', '/params', { admission_enabled: false });
  const account = await operator.createAccount({ name: 'e2e' });
  await operator.fundAccount(account.account_id, '100.0');
  const client = new TaskMarketClient({ url: node.url, apiKey: account.api_key });

  // A cheating provider, the cheapest of all, fabricates every result it is given: the market
  // catches it (verification is on, as a node starts) and its jobs complete on honest workers.
  // It takes byte work only, so the long synthetic job below goes to a real worker.
  const liar = (cheat = new ScriptedWorker(node.url));
  await liar.join({
    price: '0.00001',
    capability: { ...CPU_CAPABILITY, challenge_types: ['transcode', 'gpuhash'] },
  });
  liar.answer((job) => liar.fabricated(job));
  const caught = liar.next<{ code: string }>('notice');

  // A long synthetic job first, so it is running when its worker dies.
  const long = await client.createTask({
    challenge_type: 'synthetic',
    payload: { seed: 'c0ffee', matrix_size: 256, iterations: 60 },
    reward: '5.0',
  });
  const leased = await until('the long job to be leased', async () => {
    const { jobs } = await client.request<{ jobs: JobView[] }>('GET', `/tasks/${long.task_id}/jobs`);
    return jobs[0]?.status === 'leased' ? jobs[0] : undefined;
  });
  const victim = leased.worker_address as string;
  // Killed while it runs the long job (a job of seconds; the lease was seen just now).
  workers.get(victim)?.kill('SIGKILL');

  const ids: string[] = [];
  for (const [type, payload] of Object.entries(EXAMPLE_PAYLOADS)) {
    const p =
      type === 'rendering'
        ? { ...payload, frames: 3 }
        : type === 'synthetic'
          ? { ...payload, matrix_size: 16 }
          : payload;
    ids.push(
      (await client.createTask({ challenge_type: type as never, payload: { ...p }, reward: '1.0' })).task_id,
    );
  }

  // A forged result: a stranger answers for the job that was running.
  const forger = new ScriptedWorker(node.url);
  await forger.join();
  forger.send({
    ...forger.result({ job_id: leased.job_id, slices: [{ index: 0, units: 1, kind: 'whole' }] } as never),
  });
  expect(await forger.next('error')).toMatchObject({ code: 'not_leased', job_id: leased.job_id });
  forger.close();

  const done = await until(
    'every task to complete',
    async () => {
      const views = await Promise.all([long.task_id, ...ids].map((id) => client.getTask(id)));
      if (views.some((v) => v.status === 'failed' || v.status === 'cancelled'))
        throw new Error(JSON.stringify(views));
      return views.every((v) => v.status === 'completed') ? views : undefined;
    },
    90_000,
  );
  for (const v of done) {
    expect(v.result?.result_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(v.result?.worker_address).toMatch(/^cpc1/);
    expect(v.result?.worker_address).not.toBe(liar.key.address);
  }
  expect((await caught).code).toBe('fraud');
  expect(liar.jobsSeen.length).toBeGreaterThan(0);
  const verification = await operator.request<{ fraud_detected: number }>('POST', '/rpc', {
    method: 'compute_market.verification_stats',
  });
  expect(verification.fraud_detected).toBe(1);
  const longDone = done[0] as TaskView;
  expect(longDone.result?.worker_address).not.toBe(victim);
  const longJobs = await client.request<{ jobs: JobView[] }>('GET', `/tasks/${long.task_id}/jobs`);
  expect(longJobs.jobs[0]?.attempts).toBe(2);

  const byType = new Map(done.slice(1).map((v) => [v.challenge_type, v]));
  const inferenceJobs = await client.request<{ jobs: JobView[] }>(
    'GET',
    `/tasks/${byType.get('inference')?.task_id}/jobs`,
  );
  expect(inferenceJobs.jobs[0]?.output?.text).toBe('echo: Hello, world!');
  const renderJobs = await client.request<{ jobs: JobView[] }>(
    'GET',
    `/tasks/${byType.get('rendering')?.task_id}/jobs`,
  );
  const artifact = renderJobs.jobs[0]?.output?.artifacts?.[0];
  expect(artifact?.name).toBe('frame-1/frame.txt');
  const blob = await fetch(`${node.url}/blobs/${artifact?.blob}`, {
    headers: { authorization: `Bearer ${account.api_key}` },
  });
  expect(await blob.text()).toMatch(/^done 1 /);

  const ledger = await operator.verifyLedger();
  expect(ledger.violations).toEqual([]);
}, 180_000);
