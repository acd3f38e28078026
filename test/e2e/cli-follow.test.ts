// The customer's command line against a real node: --input that uploads a large file as a blob,
// --wait and `task watch` following a task a worker runs, `task result --out` writing the text
// and artifacts, blob put/get, tables for people and JSON for scripts, one-line errors that list
// every problem; `worker status` signed with the worker's key.

import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TaskOutcome } from '../../src/client/client.js';
import { keyFileFor } from '../../src/domain/identity.js';
import type { ProviderView } from '../../src/domain/schemas/providers.js';
import type { JobMsg } from '../../src/domain/schemas/worker.js';
import { keyFileText } from '../../src/worker/keyfile.js';
import { dropSchema, freshSchema, TEST_DATABASE_URL } from '../helpers/db.js';
import { cli, startNode, type Node } from '../helpers/processes.js';
import { ScriptedWorker } from '../helpers/ws-worker.js';

const dir = mkdtempSync(join(tmpdir(), 'taskmarket-cli-follow-'));
const schema = freshSchema();
let node: Node;
let worker: ScriptedWorker;
let asAlice: NodeJS.ProcessEnv;
const jobs: JobMsg[] = [];

beforeAll(async () => {
  node = await startNode(
    ['--data-dir', dir, ...(TEST_DATABASE_URL ? ['--database-url', TEST_DATABASE_URL] : [])],
    TEST_DATABASE_URL ? { TASKMARKET_DATABASE_SCHEMA: schema } : {},
  );
  const asOperator = { TASKMARKET_URL: node.url, TASKMARKET_DATA_DIR: dir, TASKMARKET_API_KEY: '' };
  const created = await cli(['account', 'create', '--name', 'alice'], asOperator);
  const account = JSON.parse(created.stdout) as { account_id: string; api_key: string };
  expect((await cli(['account', 'fund', account.account_id, '100.0'], asOperator)).code).toBe(0);
  expect((await cli(['compute-market', 'params', '--set', 'admission_enabled=false'], asOperator)).code).toBe(
    0,
  );
  asAlice = { TASKMARKET_URL: node.url, TASKMARKET_API_KEY: account.api_key };
  // A worker that answers every job with its hash result, a text and one artifact.
  worker = new ScriptedWorker(node.url);
  await worker.join({ slots: 4 });
  void (async () => {
    for (;;) {
      const job = await worker.next<JobMsg>('job');
      jobs.push(job);
      worker.send({
        ...worker.result(job),
        output: { text: `answer ${job.job_id}`, artifacts: [{ name: 'out/a.bin', data: 'AAEC' }] },
      });
    }
  })();
}, 120_000);

afterAll(async () => {
  worker?.close();
  await node?.stop();
  rmSync(dir, { recursive: true, force: true });
  await dropSchema(schema);
});

it('create --wait follows the task to its end and prints the result; watch and result agree', async () => {
  const input = join(dir, 'small.bin');
  writeFileSync(input, 'hash these bytes');
  const res = await cli(
    [
      'task',
      'create',
      '--type',
      'gpuhash',
      '--input',
      input,
      '--reward',
      '1.0',
      '--priority',
      'high',
      '--wait',
    ],
    asAlice,
  );
  expect(res.code, res.stderr).toBe(0);
  const outcome = JSON.parse(res.stdout) as TaskOutcome;
  expect(outcome.task).toMatchObject({ status: 'completed', priority: 'high' });
  expect(outcome.task.payload.input).toBe(Buffer.from('hash these bytes').toString('base64'));
  expect(outcome.jobs[0]?.output?.text).toMatch(/^answer /);
  // Not a terminal: progress comes as plain lines on stderr.
  expect(res.stderr).toContain(`created task ${outcome.task.task_id}`);
  expect(res.stderr).toMatch(/^result completed/m);

  const watched = await cli(['task', 'watch', outcome.task.task_id], asAlice);
  expect(watched.code, watched.stderr).toBe(0);
  expect(watched.stdout).toContain(`task ${outcome.task.task_id} completed`);

  const out = join(dir, 'result');
  const written = await cli(['task', 'result', outcome.task.task_id, '--out', out], asAlice);
  expect(written.code, written.stderr).toBe(0);
  expect(readFileSync(join(out, 'output.txt'), 'utf8')).toBe(outcome.jobs[0]?.output?.text);
  expect(readFileSync(join(out, 'out', 'a.bin'))).toEqual(Buffer.from([0, 1, 2]));
  expect(JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'))).toMatchObject({
    task: { task_id: outcome.task.task_id },
  });
}, 120_000);

it('--input over the inline limit is uploaded as a blob by itself; blob put and get round-trip', async () => {
  const big = join(dir, 'big.bin');
  const bytes = Buffer.alloc(600_000, 7);
  writeFileSync(big, bytes);
  const res = await cli(
    ['task', 'create', '--type', 'gpuhash', '--input', big, '--reward', '1.0', '--wait', '--quiet'],
    asAlice,
  );
  expect(res.code, res.stderr).toBe(0);
  const outcome = JSON.parse(res.stdout) as TaskOutcome;
  expect(outcome.task.payload.input_blob).toMatch(/^[0-9a-f]{64}$/);
  expect(outcome.task.status).toBe('completed');

  const put = await cli(['blob', 'put', big], asAlice);
  expect(put.code, put.stderr).toBe(0);
  const ref = JSON.parse(put.stdout) as { hash: string; size: number };
  expect(ref).toEqual({ hash: outcome.task.payload.input_blob, size: 600_000 });
  const copy = join(dir, 'copy.bin');
  const got = await cli(['blob', 'get', ref.hash, '--out', copy], asAlice);
  expect(got.code, got.stderr).toBe(0);
  expect(readFileSync(copy).equals(bytes)).toBe(true);
}, 120_000);

it('lists as tables for people and JSON for scripts', async () => {
  const json = await cli(['task', 'list'], asAlice);
  expect(JSON.parse(json.stdout)).toMatchObject({ total: expect.any(Number) });
  const table = await cli(['task', 'list', '--table'], asAlice);
  expect(table.stdout.split('\n')[0]).toMatch(/^TASK ID\s+TYPE\s+STATUS\s+REWARD$/);
  const id = (JSON.parse(json.stdout) as { tasks: { task_id: string }[] }).tasks[0]?.task_id as string;
  expect((await cli(['task', 'jobs', id, '--table'], asAlice)).stdout).toMatch(/^#\s+JOB ID\s+STATUS/);
  const offers = await cli(['offers', '--table'], asAlice);
  expect(offers.stdout).toContain(worker.key.address);
  expect(JSON.parse((await cli(['offers', '--json'], asAlice)).stdout)).toMatchObject({ total: 1 });
}, 120_000);

it('errors are one line that lists every problem and says what to do', async () => {
  const res = await cli(
    [
      'task',
      'create',
      '--type',
      'gpuhash',
      '--payload',
      '{"input":"not base64!"}',
      '--reward',
      '0',
      '--requirements',
      '{"gpu_count":0}',
    ],
    asAlice,
  );
  expect(res.code).toBe(2);
  const lines = res.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: the request has \d+ problems: /);
  expect(lines[0]).toContain('/payload/input must be base64');
  expect(lines[0]).toContain('/requirements/gpu_count');
  expect(lines[0]).toContain('fix them and run the command again');
  expect(lines[0]).not.toContain('^[');

  const noKey = await cli(['task', 'list'], { TASKMARKET_URL: node.url, TASKMARKET_API_KEY: '' });
  expect(noKey.code).toBe(6);
  expect(noKey.stderr.trim()).toMatch(/^error: .*— pass an API key with --api-key or TASKMARKET_API_KEY$/);

  const notEnded = await cli(['task', 'result', '00000000-0000-4000-8000-000000000000'], asAlice);
  expect(notEnded.code).toBe(3);
  expect(existsSync(join(dir, 'nothing'))).toBe(false);
}, 120_000);

it('worker status shows the provider its jobs and balances, signed with its key file', async () => {
  const keyFile = join(dir, 'worker-key.json');
  writeFileSync(keyFile, keyFileText(keyFileFor('w', worker.key.privateKey, 0)), { mode: 0o600 });
  const res = await cli(['worker', 'status', '--key', keyFile, '--json'], { TASKMARKET_URL: node.url });
  expect(res.code, res.stderr).toBe(0);
  const view = JSON.parse(res.stdout) as ProviderView;
  expect(view).toMatchObject({ address: worker.key.address, connected: true });
  expect(view.jobs.completed).toBeGreaterThanOrEqual(2);
  const people = await cli(['worker', 'status', '--key', keyFile, '--table'], { TASKMARKET_URL: node.url });
  expect(people.stdout).toContain(`provider ${worker.key.address} (connected)`);
  expect(people.stdout).toMatch(/^JOB ID\s+TASK\s+TYPE\s+STATUS/m);
  const refused = await cli(['worker', 'status'], { TASKMARKET_URL: node.url });
  expect(refused.code).toBe(2);
}, 120_000);
