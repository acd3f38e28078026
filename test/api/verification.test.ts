// The market verifies the work it pays for (issue "Trust"), tried the way the attacks were made:
// cheating workers are scripted by the test (test/helpers/ws-worker.ts), never a switch in the
// product. Each test runs its own market with verification on, in Real mode where money moves.

import { expect, it, vi } from 'vitest';
import type { JobMsg } from '../../src/domain/schemas/worker.js';
import type { SchedulerParams } from '../../src/domain/scheduler-params.js';
import { verifyLedger } from '../../src/market/ledger.js';
import {
  perTestMarkets,
  providerBalance,
  providerScore,
  realSettlement,
  startTestMarket,
  type TestMarket,
} from '../helpers/market.js';
import { CPU_CAPABILITY, type ScriptedWorker } from '../helpers/ws-worker.js';
import { until } from '../helpers/until.js';

// Several providers and round trips per test: generous on a loaded machine (nothing here is timed).
vi.setConfig({ testTimeout: 120_000 });

const { pool, track } = perTestMarkets();

async function market(params: Partial<SchedulerParams> = {}, real = true): Promise<TestMarket> {
  const tm = track(await startTestMarket({ params: { verification_enabled: true, ...params } }));
  if (real) await realSettlement(tm);
  return tm;
}

const hello = {
  challenge_type: 'transcode' as const,
  payload: { input: Buffer.from('hello world').toString('base64') },
};
const synthetic = (seed: string) => ({
  challenge_type: 'synthetic' as const,
  payload: { seed, matrix_size: 8, iterations: 2 },
});

type Task = { status: string; verified?: boolean; result?: { result_hash: string; worker_address: string } };
type Job = {
  job_id: string;
  result_hash: string | null;
  verification?: { status: string; verifiers: string[] };
};

async function finished(
  tm: TestMarket,
  client: { getTask(id: string): Promise<unknown> },
  id: string,
): Promise<Task> {
  return until(`task ${id} to finish`, async () => {
    const t = (await client.getTask(id)) as Task;
    return t.status === 'completed' || t.status === 'failed' ? t : undefined;
  });
}

async function jobsOf(
  tm: TestMarket,
  apiKeyClient: { request: TestMarket['operator']['request'] },
  id: string,
) {
  return (await apiKeyClient.request<{ jobs: Job[] }>('GET', `/tasks/${id}/jobs`)).jobs;
}

const CPC = 10n ** 18n;

it('refuses a fabricated result the market re-computes, marks the cheat, and pays only the honest run', async () => {
  const tm = await market();
  const { client } = await tm.customer('10.0');
  const cheat = await pool.joined({ price: '0.5' });
  cheat.answer((job) => cheat.fabricated(job));
  const refusal = cheat.next<{ code: string }>('error');
  const notice = cheat.next<{ code: string }>('notice');
  const task = await client.createTask({ ...hello, reward: '1.5' });
  expect((await refusal).code).toBe('result_refused');
  expect((await notice).code).toBe('fraud');
  const honest = await pool.joined({ price: '1.0' });
  honest.answer((job) => honest.honest(job));

  const done = await finished(tm, client, task.task_id);
  expect(done).toMatchObject({
    status: 'completed',
    verified: true,
    result: { worker_address: honest.key.address },
  });
  const [job] = await jobsOf(tm, client, task.task_id);
  expect(job?.verification).toEqual({ status: 'verified', verifiers: ['market'] });
  expect(await providerScore(tm, cheat.key.address)).toBe(-1000);
  // Charged once, at the honest provider's price (1 unit × 1.0); the cheat earned nothing.
  expect(await client.me()).toMatchObject({ balance: '9.0', escrow: '0.0' });
  expect(await providerBalance(tm, cheat.key.address)).toBe(0n);
  expect(await providerBalance(tm, honest.key.address)).toBe(CPC / 4n);

  // Caught, it gets no more work however cheap it is.
  const next = await client.createTask({ ...hello, reward: '1.5' });
  expect((await finished(tm, client, next.task_id)).result?.worker_address).toBe(honest.key.address);
  expect(cheat.jobsSeen).toHaveLength(1);
  expect((await verifyLedger(tm.market.db)).violations).toEqual([]);
  const metrics = await (await fetch(`${tm.url}/metrics`)).text();
  expect(metrics).toMatch(/fraud_detected_total 1/);
  expect(metrics).toMatch(/verification_total\{result="refused"\} 1/);
  const stats = await tm.operator.request<{ result: Record<string, unknown> }>('POST', '/rpc', {
    jsonrpc: '2.0',
    id: 1,
    method: 'compute_market.verification_stats',
  });
  expect(stats.result).toMatchObject({
    enabled: true,
    fraud_detected: 1,
    verification: { verified: 2 },
    canary: { pass: 0, fail: 0 },
    providers: { fraud: 1, probation: 1 },
  });
});

it('re-runs a job on an independent provider, and pays it the validators’ share when they agree', async () => {
  const tm = await market({ market_check_max_muladds: 0 });
  const { client } = await tm.customer('10.0');
  const first = await pool.joined({ price: '1.0' });
  first.answer((job) => first.honest(job));
  const second = await pool.joined({ price: '1.5' });
  second.answer((job) => second.honest(job));
  // The first provider's job is on probation: checked in full, by a replica on the other one.
  const task = await client.createTask({ ...synthetic('aa'), reward: '2.0' });
  const done = await finished(tm, client, task.task_id);
  expect(done).toMatchObject({
    status: 'completed',
    verified: true,
    result: { worker_address: first.key.address },
  });
  const [job] = await jobsOf(tm, client, task.task_id);
  expect(job?.verification).toEqual({ status: 'verified', verifiers: [second.key.address] });
  // The replica looked like any job: same task, payload and slices.
  const replica = second.jobsSeen[0] as JobMsg;
  const original = first.jobsSeen[0] as JobMsg;
  expect(replica.job_id).not.toBe(original.job_id);
  expect({ ...replica, job_id: '', lease_expires_at: 0 }).toEqual({
    ...original,
    job_id: '',
    lease_expires_at: 0,
  });
  // Charged once at the primary's quote (1.0): 25% to the worker, the 10% validators' share to the verifier.
  expect(await client.me()).toMatchObject({ balance: '9.0', escrow: '0.0' });
  expect(await providerBalance(tm, first.key.address)).toBe(CPC / 4n);
  expect(await providerBalance(tm, second.key.address)).toBe(CPC / 10n);
  const validators = await tm.operator.request<{ balances: Record<string, string> }>('POST', '/rpc', {
    method: 'settlement_status',
  });
  expect(validators.balances.validators).toBe('0.0');
  expect((await verifyLedger(tm.market.db)).violations).toEqual([]);
});

it.each([
  ['the primary', 0],
  ['the verifier', 1],
])(
  'settles a dispute 2 of 3 when %s cheats: the honest answer stands, the cheat is caught',
  async (_, cheater) => {
    const tm = await market({ market_check_max_muladds: 0 });
    const { client } = await tm.customer('10.0');
    // The cheapest takes the job, the next the replica, the last the tie-break.
    const workers = [
      await pool.joined({ price: '1.0' }),
      await pool.joined({ price: '1.2' }),
      await pool.joined({ price: '1.4' }),
    ];
    workers.forEach((w, i) => w.answer((job) => (i === cheater ? w.fabricated(job) : w.honest(job))));
    const cheat = workers[cheater] as ScriptedWorker;
    const task = await client.createTask({ ...synthetic('bb'), reward: '2.0' });
    const done = await finished(tm, client, task.task_id);
    const honest = workers.filter((w) => w !== cheat).map((w) => w.key.address);
    expect(done.status).toBe('completed');
    expect(honest).toContain(done.result?.worker_address);
    const [job] = await jobsOf(tm, client, task.task_id);
    expect(job?.verification?.status).toBe('verified');
    expect(job?.verification?.verifiers).toEqual(honest.filter((a) => a !== done.result?.worker_address));
    expect(await providerScore(tm, cheat.key.address)).toBe(-1000);
    for (const w of workers.filter((x) => x !== cheat))
      expect(await providerScore(tm, w.key.address)).toBeGreaterThan(0);
    // The customer pays once, at the primary's quote; the cheat earns nothing.
    expect(await client.me()).toMatchObject({ balance: '9.0', escrow: '0.0' });
    expect(await providerBalance(tm, cheat.key.address)).toBe(0n);
    expect((await verifyLedger(tm.market.db)).violations).toEqual([]);
  },
);

it('sends a job claimed invalid to another provider; a griefer ends with no work and every task done honestly', async () => {
  const tm = await market();
  const { client } = await tm.customer('100.0');
  const griefer = await pool.joined({ price: '0.000000000000000001', slots: 8 });
  griefer.answer((job) => ({
    type: 'job_failed',
    job_id: job.job_id,
    reason: 'invalid_payload',
    message: 'no',
  }));
  const honest = await pool.joined({ price: '0.01', slots: 8 });
  honest.answer((job) => honest.honest(job));
  const ids = await Promise.all(
    Array.from(
      { length: 20 },
      async (_, i) =>
        (
          await client.createTask({
            challenge_type: 'gpuhash',
            payload: { input: Buffer.from(`t${i}`).toString('base64') },
            reward: '0.05',
          })
        ).task_id,
    ),
  );
  for (const id of ids) {
    const t = await finished(tm, client, id);
    expect(t).toMatchObject({ status: 'completed', result: { worker_address: honest.key.address } });
  }
  const [row] = await tm.market.db.query<{ contradicted_claims: number }>(
    'SELECT contradicted_claims FROM providers WHERE address = $1',
    [griefer.key.address],
  );
  expect(row?.contradicted_claims).toBeGreaterThanOrEqual(1);
  expect(await providerScore(tm, griefer.key.address)).toBeLessThan(0);
  // After its claims were contradicted it gets nothing more, however cheap.
  const seen = griefer.jobsSeen.length;
  const more = await client.createTask({
    challenge_type: 'gpuhash',
    payload: { input: 'AAAA' },
    reward: '0.05',
  });
  expect((await finished(tm, client, more.task_id)).result?.worker_address).toBe(honest.key.address);
  expect(griefer.jobsSeen).toHaveLength(seen);
  expect(await providerScore(tm, honest.key.address)).toBeGreaterThan(0);
  expect((await verifyLedger(tm.market.db)).violations).toEqual([]);
});

it('fails a job only when two independent providers call its payload invalid, at no cost to either', async () => {
  const tm = await market();
  const { client } = await tm.customer('10.0');
  const claimants = [await pool.joined({ price: '0.01' }), await pool.joined({ price: '0.02' })];
  for (const w of claimants)
    w.answer((job) => ({
      type: 'job_failed',
      job_id: job.job_id,
      reason: 'invalid_payload',
      message: 'bad input',
    }));
  const task = await client.createTask({ ...hello, reward: '1.0' });
  const done = await finished(tm, client, task.task_id);
  expect(done.status).toBe('failed');
  expect(claimants.map((w) => w.jobsSeen.length)).toEqual([1, 1]);
  for (const w of claimants) expect(await providerScore(tm, w.key.address)).toBe(0);
  expect(await client.me()).toMatchObject({ balance: '10.0', escrow: '0.0' });
});

it('keeps a provider on probation to probation_slots jobs, and rests a type it fails instead of sinking it', async () => {
  const tm = await market({ probation_slots: 2, probation_cooldown_secs: 3600 }, false);
  const { client } = await tm.customer('10.0');
  const w = await pool.joined({ slots: 4 });
  const ids = await Promise.all(
    [1, 2, 3].map(async (i) => (await client.createTask({ ...synthetic(`0${i}`), reward: '1.0' })).task_id),
  );
  const jobs = [await w.next<JobMsg>('job'), await w.next<JobMsg>('job')];
  // Two slots of four: the third job waits while two run.
  expect(await w.within('job', 300)).toBeUndefined();
  const notice = w.next<{ code: string; message: string }>('notice');
  w.send({ type: 'job_failed', job_id: jobs[0]?.job_id, reason: 'runner_error', message: 'exit 1' });
  expect((await notice).code).toBe('type_resting');
  expect(await providerScore(tm, w.key.address)).toBe(0);
  // Synthetic rests; the other running job still completes, and other types still come.
  w.send(w.honest(jobs[1] as JobMsg));
  await w.next('result_accepted');
  const other = await client.createTask({ ...hello, reward: '1.0' });
  const next = await w.next<JobMsg>('job');
  expect(next.task_id).toBe(other.task_id);
  expect(ids).toHaveLength(3);
});

it('starts a new provider from its advertised reputation only up to probation_score_cap', async () => {
  const tm = await market({ probation_score_cap: 100 }, false);
  const w = await pool.joined({ reputationScore: 900 });
  expect(await providerScore(tm, w.key.address)).toBe(100);
});

it('catches a provider past probation with a canary slice', async () => {
  const tm = await market({ probation_jobs: 0, verify_rate_max: 0, verify_rate_min: 0, canary_rate: 1 });
  const { client } = await tm.customer('10.0');
  const cheat = await pool.joined({ price: '0.5' });
  cheat.answer((job) => cheat.fabricated(job));
  const honest = await pool.joined({ price: '1.0' });
  honest.answer((job) => honest.honest(job));
  const task = await client.createTask({ ...hello, reward: '1.5' });
  const done = await finished(tm, client, task.task_id);
  expect(done).toMatchObject({
    status: 'completed',
    verified: false,
    result: { worker_address: honest.key.address },
  });
  expect(await providerScore(tm, cheat.key.address)).toBe(-1000);
  const metrics = await (await fetch(`${tm.url}/metrics`)).text();
  expect(metrics).toMatch(/canary_total\{result="fail"\} 1/);
  expect(metrics).toMatch(/canary_total\{result="pass"\} 1/);
});

it('accepts a result nobody else can check unverified, and says so', async () => {
  const tm = await market({ market_check_max_muladds: 0 }, false);
  const { client } = await tm.customer('10.0');
  const w = await pool.joined();
  w.answer((job) => w.honest(job));
  // Another provider of the type, paid in another fee mix, could never take the replica: matching
  // would not give it a job escrowed in all-CPC.
  const other = await pool.joined({ feePctCt: 50 });
  other.answer((job) => other.honest(job));
  // Verification waits for a second provider of the type only while one is connected.
  const task = await client.createTask({ ...synthetic('cc'), reward: '1.0' });
  const done = await finished(tm, client, task.task_id);
  expect(done).toMatchObject({ status: 'completed', verified: false });
  expect((await jobsOf(tm, client, task.task_id))[0]?.verification).toEqual({
    status: 'sampled_out',
    verifiers: [],
  });
  expect(await (await fetch(`${tm.url}/metrics`)).text()).toMatch(
    /verification_total\{result="unavailable"\} 1/,
  );
  expect(other.jobsSeen).toHaveLength(0);
});

it('counts a new provider’s claims for nothing until its work bears them out, and catches invented GPU work', async () => {
  const tm = await market({}, false);
  const { client } = await tm.customer('10.0');
  const h100 = {
    ...CPU_CAPABILITY,
    gpu_model: 'NVIDIA H100 80GB HBM3',
    gpu_count: 8,
    gpu_memory_mb: 81_559,
  };
  const liar = await pool.joined({ capability: h100, units: 1_000_000_000, price: '0.5' });
  liar.answer((job) => liar.fabricated(job));
  // A billion units claimed count for probation_units (10) until verified work bears them out.
  const offers = await tm.operator.request<{ offers: Record<string, unknown>[] }>('GET', '/offers');
  expect(offers.offers[0]).toMatchObject({
    hardware: 'claimed',
    probation: true,
    credited_units: 10,
    measured_units_per_s: null,
  });
  const stats = await tm.operator.request<{ capacity: number }>('POST', '/rpc', {
    method: 'compute_market.stats',
  });
  expect(stats.capacity).toBe(10);

  const task = await client.createTask({
    ...synthetic('dd'),
    requirements: { gpu_model: 'H100', gpu_count: 8 },
    reward: '1.5',
  });
  await liar.next('notice');
  const honest = await pool.joined({ capability: h100, price: '1.0' });
  honest.answer((job) => honest.honest(job));
  expect(await finished(tm, client, task.task_id)).toMatchObject({
    status: 'completed',
    result: { worker_address: honest.key.address },
  });
  expect(await providerScore(tm, liar.key.address)).toBe(-1000);
});
