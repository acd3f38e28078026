// Following a task: server-sent events over real HTTP while a real WebSocket worker leases,
// reports progress on and completes its job; waitForTask; who may follow which task.

import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { JobMsg } from '../../src/domain/schemas/worker.js';
import type { TaskEvent } from '../../src/client/client.js';
import { apiError, startTestMarket, type TestMarket } from '../helpers/market.js';
import { WorkerPool } from '../helpers/ws-worker.js';

let tm: TestMarket;
const pool = new WorkerPool(() => ({ url: tm.url, connected: () => tm.market.dispatcher.connected }));
beforeAll(async () => {
  tm = await startTestMarket({ config: { worker_messages_per_second: 1000 } });
});
afterAll(async () => {
  await tm?.close();
});
afterEach(() => pool.closeAll());

const input = Buffer.from('follow me, byte by byte').toString('base64');

it('streams status, the lease, per-slice progress, the completion and the result, then ends', async () => {
  const { client } = await tm.customer('10.0');
  const task = await client.createTask({ challenge_type: 'gpuhash', payload: { input }, reward: '1.0' });
  const events: TaskEvent[] = [];
  const following = (async () => {
    for await (const e of client.taskEvents(task.task_id)) events.push(e);
  })();
  // The first event is the task as it is now.
  await until(() => events.length >= 1);
  expect(events[0]).toMatchObject({ type: 'status', data: { task_id: task.task_id, status: 'pending' } });

  const w = pool.make();
  await w.join();
  const job = await w.next<JobMsg>('job', (m) => m.task_id === task.task_id);
  await until(() => events.some((e) => e.type === 'job'));
  w.send({ type: 'progress', job_id: job.job_id, slices_done: 1, slices_total: 2 });
  await until(() => events.some((e) => e.type === 'progress'));
  w.send(w.result(job));
  await following;

  const types = events.map((e) => e.type);
  expect(types[types.length - 1]).toBe('result');
  expect(events).toContainEqual({
    type: 'job',
    data: { task_id: task.task_id, job_id: job.job_id, status: 'leased', worker_address: w.key.address },
  });
  expect(events).toContainEqual({
    type: 'progress',
    data: { task_id: task.task_id, job_id: job.job_id, slices_done: 1, slices_total: 2 },
  });
  expect(events.some((e) => e.type === 'job' && e.data.status === 'completed')).toBe(true);
  expect(events.some((e) => e.type === 'status' && e.data.status === 'completed')).toBe(true);
  const result = events[events.length - 1] as Extract<TaskEvent, { type: 'result' }>;
  expect(result.data.task).toMatchObject({ status: 'completed', result: { worker_address: w.key.address } });
  expect(result.data.jobs).toHaveLength(1);
  expect(result.data.jobs[0]).toMatchObject({ job_id: job.job_id, status: 'completed' });
  // The follow was let go once the stream ended.
  await until(() => tm.market.followers.size === 0);
}, 60_000);

it('waitForTask answers an ended task at once and a running one when it ends', async () => {
  const { client } = await tm.customer('10.0');
  const task = await client.createTask({ challenge_type: 'gpuhash', payload: { input }, reward: '1.0' });
  const seen: string[] = [];
  const waiting = client.waitForTask(task.task_id, { onEvent: (e) => seen.push(e.type) });
  await client.cancelTask(task.task_id);
  const outcome = await waiting;
  expect(outcome.task.status).toBe('cancelled');
  expect(seen[seen.length - 1]).toBe('result');
  expect((await client.waitForTask(task.task_id)).task.status).toBe('cancelled');
}, 60_000);

it('waitForTask gives up after its timeout with request_timeout; the node lets the stream go', async () => {
  const { client } = await tm.customer('10.0');
  const task = await client.createTask({ challenge_type: 'gpuhash', payload: { input }, reward: '1.0' });
  const err = await apiError(client.waitForTask(task.task_id, { timeoutMs: 300 }));
  expect(err.code).toBe('request_timeout');
  // The stream the client dropped is let go on the node while the task still runs.
  await until(() => tm.market.followers.size === 0);
  await client.cancelTask(task.task_id);
}, 60_000);

it("refuses another customer's task as not found, before any stream opens", async () => {
  const alice = await tm.customer('10.0');
  const bob = await tm.customer('10.0');
  const task = await alice.client.createTask({
    challenge_type: 'gpuhash',
    payload: { input },
    reward: '1.0',
  });
  const err = await apiError(bob.client.taskEvents(task.task_id).next());
  expect(err).toMatchObject({ status: 404, code: 'not_found' });
  const anon = await fetch(`${tm.url}/tasks/${task.task_id}/events`);
  expect(anon.status).toBe(401);
  // The operator follows any task.
  const first = await tm.operator.taskEvents(task.task_id).next();
  expect(first.value).toMatchObject({ type: 'status', data: { task_id: task.task_id } });
  await alice.client.cancelTask(task.task_id);
}, 60_000);

/** Waits for a condition that events make true (no fixed sleeps: polls every 20 ms). */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 20));
}
