// A scripted worker for protocol tests: a real WebSocket client with a real key, whose every
// step the test drives by hand (the real agent is tested end to end elsewhere).

import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { runSyntheticSync } from '../../src/domain/synthetic.js';
import { blake3Hex, utf8 } from '../../src/domain/hash.js';
import { generateKeyPair, signMessage, type KeyPair } from '../../src/domain/identity.js';
import { proofRoot } from '../../src/domain/merkle.js';
import type { Capability } from '../../src/domain/schemas/capability.js';
import { batchRoot } from '../../src/domain/result-batch.js';
import { helloMessage, resultMessage, resultsMessage, type JobMsg } from '../../src/domain/schemas/worker.js';

export const CPU_CAPABILITY: Capability = {
  cpu_cores: 4,
  gpu_model: null,
  gpu_count: 0,
  gpu_memory_mb: 0,
  accelerator: null,
  accelerator_memory_mb: 0,
  frameworks: [],
  challenge_types: ['gpuhash', 'transcode', 'synthetic'],
  models: [],
};

type Msg = { type: string; [k: string]: unknown };

export class ScriptedWorker {
  readonly key: KeyPair;
  readonly ws: WebSocket;
  private inbox: Msg[] = [];
  /** When set, every job message goes here instead of the inbox (answer(), a worker that runs on its own). */
  private onJob: ((job: JobMsg) => void) | undefined;
  /** The jobs this worker was sent, in order. */
  readonly jobsSeen: JobMsg[] = [];
  private waiters: { match: (m: Msg) => boolean; resolve: (m: Msg) => void }[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(url: string, key: KeyPair = generateKeyPair()) {
    this.key = key;
    this.ws = new WebSocket(url.replace(/^http/, 'ws') + '/worker');
    this.ws.on('message', (data) => {
      const msg = JSON.parse(data.toString()) as Msg;
      if (process.env.TEST_LOG_LEVEL) console.log('worker got', data.toString().slice(0, 200));
      if (msg.type === 'job') this.jobsSeen.push(msg as unknown as JobMsg);
      if (msg.type === 'job' && this.onJob) return this.onJob(msg as unknown as JobMsg);
      const i = this.waiters.findIndex((w) => w.match(msg));
      if (i >= 0) this.waiters.splice(i, 1)[0]?.resolve(msg);
      else this.inbox.push(msg);
    });
    this.closed = new Promise((resolve) =>
      this.ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
  }

  /** The next message of this type (or matching this test), waiting if it has not come yet. */
  next<T = Msg>(type: string, match: (m: Msg) => boolean = () => true): Promise<T> {
    const want = (m: Msg) => m.type === type && match(m);
    const i = this.inbox.findIndex(want);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0] as T);
    return new Promise((resolve) => this.waiters.push({ match: want, resolve: resolve as (m: Msg) => void }));
  }

  /** The next message of this type if one comes within `ms`; undefined (and no waiter left) if not. */
  async within<T = Msg>(type: string, ms: number): Promise<T | undefined> {
    const now = this.take<T>(type);
    if (now) return now;
    return new Promise((resolve) => {
      const waiter = {
        match: (m: Msg) => m.type === type,
        resolve: (m: Msg) => {
          clearTimeout(timer);
          resolve(m as T);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        resolve(undefined);
      }, ms);
      this.waiters.push(waiter);
    });
  }

  /** A message of this type that has already arrived, if any, without waiting. */
  take<T = Msg>(type: string): T | undefined {
    const i = this.inbox.findIndex((m) => m.type === type);
    return i >= 0 ? (this.inbox.splice(i, 1)[0] as T) : undefined;
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  /** Challenge, hello, welcome, and an offer: a worker ready for jobs. */
  async join(
    opts: {
      slots?: number;
      price?: string;
      units?: number;
      capability?: Capability;
      feePctCt?: number;
      reputationScore?: number;
    } = {},
  ): Promise<void> {
    const { challenge } = await this.next<{ type: 'challenge'; challenge: string }>('challenge');
    this.send({
      type: 'hello',
      protocol_version: 1,
      public_key: this.key.publicKey,
      address: this.key.address,
      signature: signMessage(this.key.privateKey, utf8(helloMessage(challenge))),
      capability: opts.capability ?? CPU_CAPABILITY,
      free_slots: opts.slots ?? 2,
    });
    await this.next('welcome');
    this.send({
      type: 'offer',
      units: opts.units ?? 1000,
      price_per_unit: opts.price ?? '0.001',
      fee_pct_ct: opts.feePctCt ?? 100,
      ...(opts.reputationScore === undefined ? {} : { reputation_score: opts.reputationScore }),
    });
    await this.next('offer_accepted');
  }

  /** What an honest hash runner answers for a byte job. */
  result(job: JobMsg): Record<string, unknown> {
    const input = Buffer.from(job.input ?? '', 'base64');
    return this.resultWith(
      job,
      job.slices.map((s) =>
        s.kind === 'bytes' ? blake3Hex(input.subarray(s.start, s.end)) : blake3Hex(utf8(job.job_id)),
      ),
    );
  }

  /** A signed result with these slice proofs, right or not. */
  resultWith(job: JobMsg, proofs: readonly string[]): Record<string, unknown> {
    const resultHash = proofRoot([...proofs]);
    return {
      type: 'job_result',
      job_id: job.job_id,
      worker_address: this.key.address,
      result_hash: resultHash,
      proof: proofs,
      signature: signMessage(this.key.privateKey, utf8(resultMessage(job.job_id, resultHash))),
    };
  }

  /** A cheat: made-up slice proofs under a consistent Merkle root and a valid signature. */
  fabricated(job: JobMsg): Record<string, unknown> {
    return this.resultWith(
      job,
      job.slices.map(() => randomBytes(32).toString('hex')),
    );
  }

  /** What an honest runner answers for a byte or (small) synthetic job. */
  honest(job: JobMsg): Record<string, unknown> {
    if (job.challenge_type !== 'synthetic') return this.result(job);
    const p = job.payload as { seed: string; matrix_size: number; iterations: number };
    return this.resultWith(job, [runSyntheticSync(p).proof]);
  }

  /** From now on answers every job it is sent with `answer` (undefined: leave it unanswered). */
  answer(answer: (job: JobMsg) => unknown): void {
    this.onJob = (job) => {
      const msg = answer(job);
      if (msg !== undefined) this.send(msg);
    };
    for (const m of this.inbox.filter((x) => x.type === 'job')) this.onJob(m as unknown as JobMsg);
    this.inbox = this.inbox.filter((x) => x.type !== 'job');
  }

  /** Results as one job_results message, signed once over their batch root. */
  batch(results: readonly Record<string, unknown>[]): Record<string, unknown> {
    const items = results.map((r) => ({ job_id: r.job_id, result_hash: r.result_hash, proof: r.proof }));
    const root = batchRoot(items as { job_id: string; result_hash: string }[]);
    return {
      type: 'job_results',
      worker_address: this.key.address,
      batch_root: root,
      signature: signMessage(this.key.privateKey, utf8(resultsMessage(root))),
      results: items,
    };
  }

  close(): void {
    this.ws.close();
  }
}

/** Scripted workers of one test file, all closed (and gone from the market) between tests. */
export class WorkerPool {
  private readonly workers: ScriptedWorker[] = [];

  constructor(private readonly market: () => { url: string; connected: () => number }) {}

  make(): ScriptedWorker {
    const w = new ScriptedWorker(this.market().url);
    this.workers.push(w);
    return w;
  }

  /** A worker that has joined and offered (ScriptedWorker.join). */
  async joined(opts: Parameters<ScriptedWorker['join']>[0] = {}): Promise<ScriptedWorker> {
    const w = this.make();
    await w.join(opts);
    return w;
  }

  async closeAll(): Promise<void> {
    await Promise.all(
      this.workers.splice(0).map(async (w) => {
        w.close();
        await w.closed;
      }),
    );
    while (this.market().connected() > 0) await new Promise((r) => setTimeout(r, 5));
  }
}
