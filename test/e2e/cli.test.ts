// End to end: the real binary serves, the real CLI creates an account, funds it, creates each
// task type, lists and cancels; the node restarts and everything is as it was.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { computeRoot } from '../../src/domain/merkle.js';
import { CHALLENGE_TYPES } from '../../src/domain/schemas/payloads.js';
import { dropSchema, freshSchema, TEST_DATABASE_URL } from '../helpers/db.js';
import { EXAMPLE_PAYLOADS } from '../helpers/market.js';
import { cli, startNode, type Node } from '../helpers/processes.js';

const dataDir = mkdtempSync(join(tmpdir(), 'taskmarket-e2e-'));
const schema = freshSchema();
const dbArgs = TEST_DATABASE_URL ? ['--database-url', TEST_DATABASE_URL] : [];
const dbEnv = TEST_DATABASE_URL ? { TASKMARKET_DATABASE_SCHEMA: schema } : {};
let node: Node | undefined;

afterAll(async () => {
  await node?.stop();
  rmSync(dataDir, { recursive: true, force: true });
  await dropSchema(schema);
});

/** `taskmarket task create` of the spec's synthetic example with this reward. */
function createSynthetic(reward: string, env: NodeJS.ProcessEnv) {
  return cli(
    [
      'task',
      'create',
      '--type',
      'synthetic',
      '--payload',
      JSON.stringify(EXAMPLE_PAYLOADS.synthetic),
      '--reward',
      reward,
    ],
    env,
  );
}

function json<T>(text: string): T {
  return JSON.parse(text) as T;
}

it('runs the customer journey across a restart', async () => {
  node = await startNode(['--data-dir', dataDir, ...dbArgs], dbEnv);
  const asOperator = { TASKMARKET_URL: node.url, TASKMARKET_DATA_DIR: dataDir, TASKMARKET_API_KEY: '' };

  const created = await cli(['account', 'create', '--name', 'alice'], asOperator);
  expect(created.stderr).toBe('');
  expect(created.code).toBe(0);
  const account = json<{ account_id: string; api_key: string }>(created.stdout);
  expect(account.api_key).toMatch(/^tm_/);
  expect((await cli(['account', 'fund', account.account_id, '100.0'], asOperator)).code).toBe(0);

  const asAlice = { TASKMARKET_URL: node.url, TASKMARKET_API_KEY: account.api_key };
  // No provider is online: industrial work is refused (503 capacity, exit 8) until the operator
  // turns admission off, which this journey does so it can queue every type without workers.
  const refused = await createSynthetic('1.0', asAlice);
  expect(refused.code).toBe(8);
  expect(refused.stderr).toContain('capacity');
  const off = await cli(['compute-market', 'params', '--set', 'admission_enabled=false'], asOperator);
  expect(off.code, off.stderr).toBe(0);
  // Each CLI run is a process start, a second or more on a loaded machine, so runs whose order
  // nothing asserts go side by side. The three newest tasks are created one after another, after
  // the rest: their order is what `task list` is checked against.
  const create = async (type: (typeof CHALLENGE_TYPES)[number]) => {
    const res = await cli(
      [
        'task',
        'create',
        '--type',
        type,
        '--payload',
        JSON.stringify(EXAMPLE_PAYLOADS[type]),
        '--reward',
        '5.0',
      ],
      asAlice,
    );
    expect(res.code, res.stderr).toBe(0);
    const task = json<{ task_id: string; status: string; created_at: number }>(res.stdout);
    expect(task.status).toBe('pending');
    return task.task_id;
  };
  const ids: string[] = await Promise.all(CHALLENGE_TYPES.slice(0, 3).map(create));
  for (const type of CHALLENGE_TYPES.slice(3)) ids.push(await create(type));
  expect(ids).toHaveLength(6);

  // Listing and the first cancel do not touch what the other checks.
  const [list, cancelled] = await Promise.all([
    cli(['task', 'list', '--limit', '3'], asAlice),
    cli(['task', 'cancel', ids[0] as string], asAlice),
  ]);
  const listed = json<{ total: number; tasks: { task_id: string }[] }>(list.stdout);
  expect(listed.total).toBe(6);
  expect(listed.tasks.map((t) => t.task_id)).toEqual(ids.slice(3).reverse());
  expect(cancelled).toMatchObject({ code: 0, stdout: `cancelled task ${ids[0]}\n` });

  // Refusals change nothing, so they run side by side.
  const [again, missing, malformed, unaffordable] = await Promise.all([
    cli(['task', 'cancel', ids[0] as string], asAlice),
    cli(['task', 'get', '00000000-0000-4000-8000-000000000000'], asAlice),
    cli(['task', 'create', '--type', 'synthetic', '--payload', '{}', '--reward', '1'], asAlice),
    createSynthetic('1000', asAlice),
  ]);
  expect(again.code).toBe(4);
  expect(again.stderr).toBe('error: task already cancelled — nothing left to do: it has already ended\n');
  expect([missing.code, malformed.code, unaffordable.code]).toEqual([3, 2, 5]);

  const before = json<object>((await cli(['account', 'show'], asAlice)).stdout);
  expect(before).toMatchObject({ balance: '75.0', escrow: '25.0' });

  expect(await node.stop()).toBe(0);
  node = await startNode(['--data-dir', dataDir, ...dbArgs], dbEnv);
  const after = { ...asAlice, TASKMARKET_URL: node.url };
  // Reads only: side by side.
  const [shown, got, pending, verify] = await Promise.all([
    cli(['account', 'show'], after),
    cli(['task', 'get', ids[0] as string], after),
    cli(['task', 'list', '--status', 'pending'], after),
    cli(['ledger', 'verify'], {
      TASKMARKET_URL: node.url,
      TASKMARKET_DATA_DIR: dataDir,
      TASKMARKET_API_KEY: '',
    }),
  ]);
  expect(json<object>(shown.stdout)).toEqual(before);
  expect(json<{ status: string }>(got.stdout).status).toBe('cancelled');
  expect(json<{ total: number }>(pending.stdout).total).toBe(5);
  expect(verify.code).toBe(0);
  expect(json<{ ok: boolean }>(verify.stdout).ok).toBe(true);
}, 120_000);

it('cancels jobs, prints parameters and settlement status, and computes a compute_root', async () => {
  const env = { TASKMARKET_URL: node?.url as string, TASKMARKET_DATA_DIR: dataDir, TASKMARKET_API_KEY: '' };
  const account = json<{ account_id: string; api_key: string }>(
    (await cli(['account', 'create', '--name', 'bob'], env)).stdout,
  );
  await cli(['account', 'fund', account.account_id, '10'], env);
  const asBob = { TASKMARKET_URL: node?.url as string, TASKMARKET_API_KEY: account.api_key };
  const task = json<{ task_id: string }>((await createSynthetic('1', asBob)).stdout);
  const res = await fetch(`${node?.url}/tasks/${task.task_id}/jobs`, {
    headers: { authorization: `Bearer ${account.api_key}` },
  });
  const jobId = ((await res.json()) as { jobs: { job_id: string }[] }).jobs[0]?.job_id as string;
  expect(await cli(['compute', 'cancel', jobId], asBob)).toMatchObject({
    code: 0,
    stdout: `cancelled job ${jobId}\n`,
  });
  expect(await cli(['compute', 'cancel', jobId], asBob)).toMatchObject({
    code: 4,
    stderr: 'error: job already cancelled — nothing left to do: it has already ended\n',
  });
  expect((await cli(['compute', 'cancel', '00000000-0000-4000-8000-000000000000'], asBob)).code).toBe(3);

  const params = await cli(['compute-market', 'params'], env);
  expect(json<{ fair_share_cap: number }>(params.stdout).fair_share_cap).toBe(0.25);
  expect(json<{ mode: string }>((await cli(['settlement', 'status'], env)).stdout).mode).toBe('DryRun');

  const results = [
    { task_id: 't1', worker_address: 'cpc1a', result_hash: 'ab', proof: 'cd', nonce: 1, signature: 'ef' },
    { task_id: 't2', worker_address: 'cpc1b', result_hash: '12', proof: '34', nonce: 2, signature: '56' },
  ];
  const file = join(dataDir, 'results.json');
  writeFileSync(file, JSON.stringify(results));
  const root = await cli(['chain', 'compute-root', file]);
  expect(root).toMatchObject({ code: 0, stdout: `${computeRoot(results)}\n` });
}, 60_000);

it('validates its configuration before starting', async () => {
  const bad = await cli(['serve', '--port', 'eighty', '--data-dir', dataDir]);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain('port');
  const printed = await cli(['serve', '--print-config', '--data-dir', dataDir, '--port', '9999']);
  expect(printed.code).toBe(0);
  expect(printed.stdout).toContain('port = 9999');
});
