// The provider agent against a fake market gateway: the signed hello, the offer and heartbeats,
// a job run to a signed result, cancel, credit flow, malformed messages, reconnect (with results
// kept across it), refusal for good, and graceful shutdown.

import { blake3 } from '@noble/hashes/blake3.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/clock.js';
import {
  addressFromPublicKey,
  generateKeyPair,
  keyFileFor,
  verifySignature,
} from '../../src/domain/identity.js';
import { proofRoot } from '../../src/domain/merkle.js';
import { batchRoot } from '../../src/domain/result-batch.js';
import {
  CLOSE,
  Hello,
  helloMessage,
  JobFailed,
  JobResults,
  PROTOCOL_VERSION,
  resultsMessage,
  type BatchedResult,
  type Heartbeat,
  type Progress,
} from '../../src/domain/schemas/worker.js';
import { WorkerAgent, type WorkerAgentOptions } from '../../src/worker/agent.js';
import { buildCapability } from '../../src/worker/capability.js';
import { loadWorkerConfig } from '../../src/worker/config.js';
import { nextEvent } from '../../src/worker/events.js';
import { ThreadPool } from '../../src/worker/pool.js';
import { createRunners } from '../../src/worker/runners/registry.js';
import type { Runner } from '../../src/worker/runners/types.js';
import { schemaProblems } from '../../src/worker/schema-check.js';
import { FakeMarket, type FakeConnection, type Sent } from './fake-market.js';
import { bytes, bytesJob, syntheticJob } from './fixtures.js';

const pair = generateKeyPair();
const key = keyFileFor('test-worker', pair.privateKey, 1_700_000_000);
const capability = buildCapability({ cpuCores: 4, memoryMb: 8192, gpu: null }, loadWorkerConfig());
const longJob = () => syntheticJob({ seed: 'ab', matrix_size: 256, iterations: 100_000 });

/** A synthetic runner that finishes only when the test opens its gate. */
function gatedRunner(): { runner: Runner; open: () => void } {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const runner: Runner = async (job, ctx) => {
    await Promise.race([
      gate,
      new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))),
    ]);
    ctx.onSliceDone(0, 'ab'.repeat(32));
    return { proofs: job.slices.map(() => 'ab'.repeat(32)) };
  };
  return { runner, open };
}

let market: FakeMarket;
let pool: ThreadPool;
let agent: WorkerAgent | undefined;

beforeEach(async () => {
  market = await FakeMarket.start();
  pool = new ThreadPool(2);
});

afterEach(async () => {
  await agent?.stop(0);
  agent = undefined;
  await market.close();
  await pool.close();
});

function startAgent(opts: Partial<WorkerAgentOptions> = {}): WorkerAgent {
  agent = new WorkerAgent({
    url: market.url,
    key,
    capability,
    slots: 2,
    runners: createRunners({}, { pool, cache: null }),
    offer: { units: 500, price_per_unit: '0.25', fee_pct_ct: 100 },
    reconnect: { initialDelayMs: 5, maxDelayMs: 20 },
    progressIntervalMs: 0,
    logger: pino({ level: process.env.TASKMARKET_TEST_LOG ?? 'silent' }),
    ...opts,
  });
  agent.start();
  return agent;
}

/** Connects, checks the hello, welcomes; returns the connection once the agent is connected. */
async function handshake(a: WorkerAgent): Promise<FakeConnection> {
  const conn = await market.nextConnection();
  await conn.next('hello');
  const connected = nextEvent(a.events, 'connected');
  conn.welcome(key.address);
  await connected;
  return conn;
}

const about = (jobId: string) => (m: Sent) => m.job_id === jobId;

describe('worker agent', () => {
  it('proves its address in a hello that the gateway schema accepts', async () => {
    const a = startAgent();
    const conn = await market.nextConnection();
    const hello = await conn.next<Hello & Sent>('hello');
    expect(schemaProblems(Hello, hello)).toEqual([]);
    expect(hello.protocol_version).toBe(PROTOCOL_VERSION);
    expect(addressFromPublicKey(hello.public_key)).toBe(hello.address);
    expect(hello.address).toBe(key.address);
    expect(
      verifySignature(hello.public_key, utf8ToBytes(helloMessage(conn.challenge)), hello.signature),
    ).toBe(true);
    expect(hello.free_slots).toBe(2);
    expect(hello.capability).toEqual(capability);

    const connected = nextEvent(a.events, 'connected');
    conn.welcome(key.address);
    expect(await connected).toEqual({ address: key.address, heartbeatIntervalMs: 50 });
    expect(await conn.next('offer')).toEqual({
      type: 'offer',
      units: 500,
      price_per_unit: '0.25',
      fee_pct_ct: 100,
    });
    const accepted = nextEvent(a.events, 'offer.accepted');
    conn.send({ type: 'offer_accepted', offer_id: 'offer-1' });
    expect(await accepted).toEqual({ offerId: 'offer-1' });
    const beat = await conn.next<Heartbeat & Sent>('heartbeat');
    expect(beat).toEqual({ type: 'heartbeat', free_slots: 2, jobs: [] });
  });

  it('runs a job to a signed result whose hash is the root of its slice proofs', async () => {
    const a = startAgent();
    const conn = await handshake(a);
    const input = bytes(2.5 * 1024 * 1024, 3);
    const job = bytesJob(input);
    conn.send(job);
    const batch = await conn.next<JobResults & Sent>('job_results', (m) =>
      m.results.some((r) => r.job_id === job.job_id),
    );
    expect(schemaProblems(JobResults, batch)).toEqual([]);
    const result = batch.results.find((r) => r.job_id === job.job_id) as BatchedResult;
    const MiB = 1 << 20;
    expect(result.proof).toEqual(
      [input.subarray(0, MiB), input.subarray(MiB, 2 * MiB), input.subarray(2 * MiB)].map((b) =>
        bytesToHex(blake3(b)),
      ),
    );
    expect(result.result_hash).toBe(proofRoot(result.proof));
    expect(batch.worker_address).toBe(key.address);
    expect(batch.batch_root).toBe(batchRoot(batch.results));
    const signed = utf8ToBytes(resultsMessage(batch.batch_root));
    expect(verifySignature(key.public_key, signed, batch.signature)).toBe(true);
    const last = conn.log
      .filter((m): m is Progress & Sent => m.type === 'progress' && m.job_id === job.job_id)
      .at(-1);
    expect(last).toMatchObject({ slices_done: 3, slices_total: 3 });
    expect(await conn.next('heartbeat', (m: Heartbeat & Sent) => m.free_slots === 2)).toBeTruthy();
    const accepted = nextEvent(a.events, 'result.accepted');
    conn.send({ type: 'results_accepted', job_ids: [job.job_id] });
    expect(await accepted).toEqual({ jobId: job.job_id });
  });

  it('signs results that finish together once, as one batch', async () => {
    const a = startAgent({ slots: 4 });
    const conn = await handshake(a);
    const jobs = [1, 2, 3, 4].map((n) => bytesJob(bytes(1000, n)));
    for (const j of jobs) conn.send(j);
    const ids = new Set(jobs.map((j) => j.job_id));
    const seen = new Set<string>();
    const batches: (JobResults & Sent)[] = [];
    while (seen.size < ids.size) {
      const b = await conn.next<JobResults & Sent>('job_results');
      batches.push(b);
      for (const r of b.results) seen.add(r.job_id);
    }
    expect(seen).toEqual(ids);
    for (const b of batches) {
      expect(b.batch_root).toBe(batchRoot(b.results));
      expect(verifySignature(key.public_key, utf8ToBytes(resultsMessage(b.batch_root)), b.signature)).toBe(
        true,
      );
    }
  });

  it('sends tiny jobs that arrive together back in one batch, with no progress for one-slice jobs', async () => {
    const a = startAgent({ slots: 8 });
    const conn = await handshake(a);
    const jobs = [1, 2, 3, 4, 5].map((n) => syntheticJob({ seed: `0${n}`, matrix_size: 2, iterations: 1 }));
    conn.sendTogether(jobs);
    const batch = await conn.next<JobResults & Sent>('job_results');
    expect(batch.results.map((r) => r.job_id).sort()).toEqual(jobs.map((j) => j.job_id).sort());
    expect(
      verifySignature(key.public_key, utf8ToBytes(resultsMessage(batch.batch_root)), batch.signature),
    ).toBe(true);
    expect(conn.log.filter((m) => m.type === 'progress')).toEqual([]);
  });

  it('stops a cancelled job and sends nothing for it', async () => {
    const a = startAgent();
    const conn = await handshake(a);
    const long = longJob();
    const started = nextEvent(a.events, 'job.started');
    conn.send(long);
    await started;
    await conn.next('heartbeat', (m: Heartbeat & Sent) => m.jobs.includes(long.job_id) && m.free_slots === 1);
    const cancelled = nextEvent(a.events, 'job.cancelled');
    conn.send({ type: 'cancel', job_id: long.job_id, reason: 'customer cancelled' });
    expect(await cancelled).toEqual({ jobId: long.job_id });
    // A job sent after the cancel comes back; nothing about the cancelled one came before it.
    const quick = syntheticJob({ seed: '01', matrix_size: 4, iterations: 1 });
    conn.send(quick);
    await conn.next('job_result', about(quick.job_id));
    expect(conn.log.filter((m) => m.job_id === long.job_id && m.type !== 'progress')).toEqual([]);
    expect(a.leasedJobs).toEqual([]);
  });

  it('refuses a job beyond its free slots instead of queueing it', async () => {
    const a = startAgent();
    const conn = await handshake(a);
    const [j1, j2, j3] = [longJob(), longJob(), longJob()];
    for (const j of [j1, j2, j3]) conn.send(j);
    const refused = await conn.next<JobFailed & Sent>('job_failed', about(j3.job_id));
    expect(schemaProblems(JobFailed, refused)).toEqual([]);
    expect(refused.reason).toBe('runner_error');
    expect(refused.message).toMatch(/no free slot/);
    expect(a.freeSlots).toBe(0);
    expect(a.leasedJobs.sort()).toEqual([j1.job_id, j2.job_id].sort());
  });

  it('answers unrunnable jobs with job_failed and shrugs off malformed messages', async () => {
    const a = startAgent();
    const conn = await handshake(a);
    const invalid = nextEvent(a.events, 'message.invalid');
    conn.sendRaw('not json');
    expect((await invalid).problem).toBe('not JSON');
    const unknown = nextEvent(a.events, 'message.invalid');
    conn.send({ type: 'surprise' });
    expect((await unknown).problem).toMatch(/unknown message type/);

    const training = {
      ...syntheticJob({ seed: '00', matrix_size: 1, iterations: 1 }),
      challenge_type: 'training',
    };
    conn.send(training);
    expect(await conn.next('job_failed', about(training.job_id))).toMatchObject({ reason: 'unsupported' });
    const badSlices = {
      ...syntheticJob({ seed: '00', matrix_size: 1, iterations: 1 }),
      slices: [{ kind: 'bogus' }],
    };
    conn.send(badSlices);
    expect(await conn.next('job_failed', about(badSlices.job_id))).toMatchObject({
      reason: 'invalid_payload',
    });
    const badPayload = syntheticJob({ seed: 'zz', matrix_size: 1, iterations: 1 });
    conn.send(badPayload);
    expect(await conn.next('job_failed', about(badPayload.job_id))).toMatchObject({
      reason: 'invalid_payload',
    });

    const rejected = nextEvent(a.events, 'market.error');
    conn.send({ type: 'error', code: 'lease_lost', message: 'the lease expired', job_id: badPayload.job_id });
    expect(await rejected).toMatchObject({ code: 'lease_lost' });
    // Still connected and working.
    const quick = syntheticJob({ seed: '02', matrix_size: 4, iterations: 1 });
    conn.send(quick);
    await conn.next('job_result', about(quick.job_id));
  });

  it('reconnects after the market drops it, and delivers a result finished meanwhile', async () => {
    const gated = gatedRunner();
    const a = startAgent({ runners: { synthetic: gated.runner } });
    const first = await handshake(a);
    const job = syntheticJob({ seed: '03', matrix_size: 64, iterations: 20 });
    const started = nextEvent(a.events, 'job.started');
    first.send(job);
    await started;
    const reconnecting = nextEvent(a.events, 'reconnecting');
    const disconnected = nextEvent(a.events, 'disconnected');
    first.ws.close(CLOSE.shutting_down, 'market restarting');
    expect(await disconnected).toEqual({ code: CLOSE.shutting_down, reason: 'market restarting' });
    expect((await reconnecting).delayMs).toBeGreaterThan(0);

    const second = await market.nextConnection();
    const hello = await second.next<Hello & Sent>('hello');
    expect(
      verifySignature(hello.public_key, utf8ToBytes(helloMessage(second.challenge)), hello.signature),
    ).toBe(true);
    const finished = nextEvent(a.events, 'job.finished', (e) => e.jobId === job.job_id);
    gated.open();
    await finished;
    second.welcome(key.address);
    const result = await second.next<BatchedResult & Sent>('job_result', about(job.job_id));
    expect(result.result_hash).toBe(proofRoot(result.proof));
  });

  it('drops a connection whose pings go unanswered, and reconnects', async () => {
    await market.close();
    market = await FakeMarket.start({ autoPong: false });
    const clock = new ManualClock(1_000_000);
    const a = startAgent({ clock });
    const conn = await handshake(a);
    await conn.next('heartbeat');
    const disconnected = nextEvent(a.events, 'disconnected');
    clock.advance(10_001);
    expect((await disconnected).code).toBe(1006);
    const again = await market.nextConnection();
    await again.next('hello');
  });

  it('gives up for good when the market refuses its identity', async () => {
    const a = startAgent();
    const conn = await market.nextConnection();
    await conn.next('hello');
    const fatal = nextEvent(a.events, 'fatal');
    conn.ws.close(CLOSE.auth_failed, 'signature over the challenge does not verify');
    expect(await fatal).toEqual({
      code: CLOSE.auth_failed,
      reason: 'signature over the challenge does not verify',
    });
    expect(await a.done).toEqual({
      kind: 'fatal',
      code: CLOSE.auth_failed,
      reason: 'signature over the challenge does not verify',
    });
    expect(market.connections).toHaveLength(1);
  });

  it('drains on stop: no new work, running jobs finish, then it closes', async () => {
    const gated = gatedRunner();
    const a = startAgent({ runners: { synthetic: gated.runner } });
    const conn = await handshake(a);
    const job = syntheticJob({ seed: '04', matrix_size: 64, iterations: 20 });
    const started = nextEvent(a.events, 'job.started');
    conn.send(job);
    await started;
    const stopped = a.stop(30_000);
    await conn.next('heartbeat', (m: Heartbeat & Sent) => m.free_slots === 0);
    const late = syntheticJob({ seed: '05', matrix_size: 4, iterations: 1 });
    conn.send(late);
    expect(await conn.next('job_failed', about(late.job_id))).toMatchObject({ reason: 'shutdown' });
    gated.open();
    await conn.next('job_result', about(job.job_id));
    await stopped;
    expect(await conn.closed).toEqual({ code: 1000, reason: 'worker shutting down' });
    expect(await a.done).toEqual({ kind: 'stopped' });
  });

  it('aborts what is still running when the grace period ends', async () => {
    const a = startAgent();
    const conn = await handshake(a);
    const job = longJob();
    const started = nextEvent(a.events, 'job.started');
    conn.send(job);
    await started;
    await a.stop(50);
    expect(conn.log.find(about(job.job_id))).toMatchObject({ type: 'job_failed', reason: 'shutdown' });
    expect((await conn.closed).code).toBe(1000);
  });
});
