// The worker protocol over a real WebSocket: identity, dispatch, results, leases, bad input.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, signMessage } from '../../src/domain/identity.js';
import { utf8 } from '../../src/domain/hash.js';
import { proofRoot } from '../../src/domain/merkle.js';
import { helloMessage, type JobMsg } from '../../src/domain/schemas/worker.js';
import { verifyLedger } from '../../src/market/ledger.js';
import { startTestMarket, type TestMarket } from '../helpers/market.js';
import { CPU_CAPABILITY, WorkerPool, type ScriptedWorker } from '../helpers/ws-worker.js';

let tm: TestMarket;
const pool = new WorkerPool(() => ({ url: tm.url, connected: () => tm.market.dispatcher.connected }));
beforeAll(async () => {
  tm = await startTestMarket({
    config: {
      lease_ms: 1500,
      heartbeat_interval_ms: 200,
      max_job_attempts: 3,
      worker_messages_per_second: 1000,
    },
  });
});
afterAll(async () => {
  await tm?.close();
});
// Each test starts with no worker connected, so jobs go only to the workers it made.
afterEach(() => pool.closeAll());

const worker = () => pool.make();

const bytes = (n: number, seed = 7) => Buffer.from(Array.from({ length: n }, (_, i) => (i * seed) & 0xff));

async function gpuhashTask(
  client: Awaited<ReturnType<TestMarket['customer']>>['client'],
  data = bytes(1000),
) {
  return client.createTask({
    challenge_type: 'gpuhash',
    payload: { input: data.toString('base64') },
    reward: '1.0',
  });
}

describe('a job from task to result', () => {
  it('dispatches to a proven worker and completes the task with the Merkle result', async () => {
    const { client } = await tm.customer('10.0');
    const w = worker();
    await w.join();
    const task = await gpuhashTask(client);
    const job = await w.next<JobMsg>('job', (m) => m.task_id === task.task_id);
    expect(job).toMatchObject({ task_id: task.task_id, challenge_type: 'gpuhash', units: 1 });
    expect(job.payload).toEqual({});
    expect(Buffer.from(job.input as string, 'base64')).toEqual(bytes(1000));
    expect((await client.getTask(task.task_id)).status).toBe('in_progress');

    const result = w.result(job);
    w.send(result);
    await w.next('result_accepted');
    const done = await client.getTask(task.task_id);
    expect(done.status).toBe('completed');
    expect(done.result).toMatchObject({
      result_hash: proofRoot([result.result_hash as string]),
      worker_address: w.key.address,
    });
    expect(done.progress).toEqual({ jobs_done: 1, jobs_total: 1 });

    // The same result again changes nothing.
    w.send(result);
    expect(await w.next('error')).toMatchObject({ code: 'duplicate_result', job_id: job.job_id });
    expect((await verifyLedger(tm.market.db)).violations).toEqual([]);
  });

  it('rejects a forged result and keeps the job leased', async () => {
    const { client } = await tm.customer('10.0');
    const w = worker();
    await w.join();
    const task = await gpuhashTask(client, bytes(3000, 3));
    const job = await w.next<JobMsg>('job', (m) => m.task_id === task.task_id);
    const honest = w.result(job);

    w.send({ ...honest, signature: signMessage(generateKeyPair().privateKey, utf8('x')) });
    expect(await w.next('error')).toMatchObject({ code: 'bad_signature' });
    w.send({ ...honest, result_hash: 'f'.repeat(64) });
    expect(await w.next('error')).toMatchObject({ code: 'bad_signature' });
    w.send({ ...honest, worker_address: generateKeyPair().address });
    expect(await w.next('error')).toMatchObject({ code: 'wrong_worker' });
    w.send({ ...honest, job_id: '00000000-0000-4000-8000-000000000000' });
    expect(await w.next('error')).toMatchObject({ code: 'unknown_job' });
    expect((await client.getTask(task.task_id)).status).toBe('in_progress');

    // Another worker cannot answer for it either.
    const thief = worker();
    await thief.join();
    thief.send({ ...thief.result(job) });
    expect(await thief.next('error')).toMatchObject({ code: 'not_leased' });

    w.send(honest);
    await w.next('result_accepted');
    expect((await client.getTask(task.task_id)).status).toBe('completed');
  });
});

describe('result batches', () => {
  it('takes results signed once as a batch, and refuses a forged or altered one whole', async () => {
    const { client } = await tm.customer('10.0');
    const w = worker();
    await w.join({ slots: 3 });
    const tasks = [1, 2, 3].map((n) => gpuhashTask(client, bytes(2000, n)));
    const ids = new Set((await Promise.all(tasks)).map((t) => t.task_id));
    const jobs = await Promise.all(
      [0, 1, 2].map(() => w.next<JobMsg>('job', (m) => ids.has(m.task_id as string))),
    );
    const honest = jobs.map((j) => w.result(j));
    const batch = w.batch(honest.slice(0, 2));
    const errorsFor = async (n: number) => {
      const got = [];
      for (let i = 0; i < n; i++) got.push(await w.next<{ code: string; job_id: string }>('error'));
      return got.map((e) => e.code);
    };

    // Signed by another key, or a result changed after signing: every job in it is refused.
    w.send({ ...batch, signature: signMessage(generateKeyPair().privateKey, utf8('x')) });
    expect(await errorsFor(2)).toEqual(['bad_signature', 'bad_signature']);
    const results = batch.results as { result_hash: string }[];
    w.send({ ...batch, results: [{ ...results[0], result_hash: 'f'.repeat(64) }, results[1]] });
    expect(await errorsFor(2)).toEqual(['bad_proof', 'bad_proof']);

    // A batch whose signature holds but one result's proofs do not: only that one is refused.
    const third = honest[2] as { proof: string[] };
    const wrongProof = { ...honest[2], proof: third.proof.map(() => 'a'.repeat(64)) };
    w.send(w.batch([honest[0] as Record<string, unknown>, honest[1] as Record<string, unknown>, wrongProof]));
    const accepted = await w.next<{ job_ids: string[] }>('results_accepted');
    expect(new Set(accepted.job_ids)).toEqual(new Set([jobs[0]?.job_id, jobs[1]?.job_id]));
    expect(await w.next('error')).toMatchObject({ code: 'bad_proof', job_id: jobs[2]?.job_id });
    w.send(w.batch([honest[2] as Record<string, unknown>]));
    await w.next('results_accepted');
    for (const id of ids) expect((await client.getTask(id)).status).toBe('completed');
  });
});

describe('leases', () => {
  it('requeues a job whose worker disappeared, and it completes elsewhere', async () => {
    const { client } = await tm.customer('10.0');
    const first = worker();
    await first.join({ price: '0.0001' });
    const task = await gpuhashTask(client, bytes(500, 11));
    const job = await first.next<JobMsg>('job', (m) => m.task_id === task.task_id);
    first.ws.terminate();

    const second = worker();
    await second.join();
    const again = await second.next<JobMsg>('job', (m) => m.job_id === job.job_id);
    second.send(second.result(again));
    await second.next('result_accepted');
    const done = await client.getTask(task.task_id);
    expect(done.result?.worker_address).toBe(second.key.address);
    const jobs = await client.request<{ jobs: { attempts: number }[] }>('GET', `/tasks/${task.task_id}/jobs`);
    expect(jobs.jobs[0]?.attempts).toBe(2);
  });

  it('expires a lease without heartbeats; the late result is refused', async () => {
    const { client } = await tm.customer('10.0');
    const slow = worker();
    await slow.join({ price: '0.00001' });
    const task = await gpuhashTask(client, bytes(700, 13));
    const job = await slow.next<JobMsg>('job', (m) => m.task_id === task.task_id);
    // A heartbeat that does not list the job extends nothing, and says no slot is free.
    slow.send({ type: 'heartbeat', free_slots: 0, jobs: [] });
    expect(await slow.next('cancel', (m) => m.job_id === job.job_id)).toMatchObject({ reason: 'lease_lost' });

    const other = worker();
    await other.join();
    const again = await other.next<JobMsg>('job', (m) => m.job_id === job.job_id);
    slow.send(slow.result(job));
    expect(await slow.next('error')).toMatchObject({ job_id: job.job_id, code: 'not_leased' });
    other.send(other.result(again));
    await other.next('result_accepted');
    expect((await client.getTask(task.task_id)).result?.worker_address).toBe(other.key.address);
  });
});

describe('matching', () => {
  it('says why a job waits', async () => {
    const { client } = await tm.customer('10.0');
    await worker().join();
    const task = await client.createTask({
      challenge_type: 'synthetic',
      payload: { seed: 'ab', matrix_size: 4, iterations: 1 },
      reward: '1.0',
      requirements: { gpu_model: 'H100', gpu_memory_mb: 81920 },
    });
    await tm.market.dispatcher.tick();
    const jobs = await client.request<{ jobs: { status: string; waiting_reason?: string }[] }>(
      'GET',
      `/tasks/${task.task_id}/jobs`,
    );
    expect(jobs.jobs[0]).toMatchObject({ status: 'queued', waiting_reason: 'capability_mismatch' });
    await client.cancelTask(task.task_id);
  });

  it('cancels a running job on the worker when its task is cancelled', async () => {
    const { client } = await tm.customer('10.0');
    const w = worker();
    await w.join({ price: '0.000001' });
    const task = await gpuhashTask(client, bytes(900, 17));
    const job = await w.next<JobMsg>('job', (m) => m.task_id === task.task_id);
    await client.cancelTask(task.task_id);
    expect(await w.next('cancel', (m) => m.job_id === job.job_id)).toMatchObject({ reason: 'cancelled' });
    w.send(w.result(job));
    expect(await w.next('error')).toMatchObject({ code: 'job_cancelled' });
    expect(await client.me()).toMatchObject({ escrow: '0.0', balance: '10.0' });
  });
});

describe('bad workers', () => {
  async function challenge(w: ScriptedWorker): Promise<string> {
    return (await w.next<{ type: string; challenge: string }>('challenge')).challenge;
  }
  function hello(w: ScriptedWorker, c: string, over: Record<string, unknown> = {}) {
    return {
      type: 'hello',
      protocol_version: 1,
      public_key: w.key.publicKey,
      address: w.key.address,
      signature: signMessage(w.key.privateKey, utf8(helloMessage(c))),
      capability: CPU_CAPABILITY,
      free_slots: 1,
      ...over,
    };
  }

  it('closes on a bad signature, a foreign address, a wrong version, or no hello first', async () => {
    const a = worker();
    const ca = await challenge(a);
    a.send(hello(a, ca, { signature: signMessage(a.key.privateKey, utf8(helloMessage('0'.repeat(64)))) }));
    expect(await a.closed).toMatchObject({ code: 4001 });

    const b = worker();
    const cb = await challenge(b);
    b.send(hello(b, cb, { address: generateKeyPair().address }));
    expect(await b.closed).toMatchObject({ code: 4001, reason: 'address does not belong to public_key' });

    const c = worker();
    const cc = await challenge(c);
    c.send(hello(c, cc, { protocol_version: 2 }));
    expect(await c.closed).toMatchObject({ code: 4002 });

    const d = worker();
    await challenge(d);
    d.send({ type: 'heartbeat', free_slots: 1, jobs: [] });
    expect(await d.closed).toMatchObject({ code: 4000 });

    const e = worker();
    await challenge(e);
    e.send('{not json');
    expect(await e.closed).toMatchObject({ code: 4000, reason: 'message is not JSON' });
  });

  it('answers malformed messages after hello with an error, and closes on a flood', async () => {
    const w = worker();
    await w.join();
    w.send({ type: 'offer', units: -1, price_per_unit: '1', fee_pct_ct: 5 });
    expect(await w.next('error')).toMatchObject({ code: 'invalid_message' });
    w.send({ type: 'teleport' });
    expect((await w.next('error')).message).toContain('unknown message type');
    for (let i = 0; i < 3000; i++) w.send({ type: 'heartbeat', free_slots: 1, jobs: [] });
    expect(await w.closed).toMatchObject({ code: 4008 });
  });
});
