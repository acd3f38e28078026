// The provider agent: one WebSocket to the market's worker gateway (domain/schemas/worker.ts),
// kept up across drops, and the jobs it is running.
//
//   idle ─connect─▶ open ─challenge/hello─▶ welcomed ─close─▶ backoff ─timer─▶ connect …
//                                              │
//                     stop(): draining (free_slots 0, jobs finish up to the grace period,
//                     then are aborted as `shutdown`) ─▶ closed ─▶ stopped
//
// Jobs outlive a connection: a job keeps running while the agent reconnects, and its result
// waits in an outbox until the next welcome, so a blip does not throw finished work away (the
// market still decides whether the lease survived). Results that finish close together go out
// as one signed job_results message (result-batch.ts). Credit flow and the running jobs
// themselves live in job-slots.ts.

import { utf8ToBytes } from '@noble/hashes/utils.js';
import type { Logger } from 'pino';
import pino from 'pino';
import WebSocket from 'ws';
import { systemClock, type Clock } from '../domain/clock.js';
import { signMessage, type KeyFile } from '../domain/identity.js';
import type { Capability } from '../domain/schemas/capability.js';
import {
  CLOSE,
  MAX_MESSAGE_BYTES,
  PROTOCOL_VERSION,
  helloMessage,
  type Heartbeat,
  type Hello,
  type BatchedResult,
  type JobFailed,
  type JobResults,
  type MarketMessage,
  type Offer,
  type Progress,
} from '../domain/schemas/worker.js';
import { Backoff } from './backoff.js';
import { WorkerAgentEventBus } from './events.js';
import { failedMessage, JobExecutor } from './job-executor.js';
import { JobSlots } from './job-slots.js';
import { parseMarketMessage } from './messages.js';
import { batches, RESULT_BATCH_MS, RESULT_IDLE_MS, signBatch } from './result-batch.js';
import type { RunnerSet } from './runners/registry.js';

export interface WorkerAgentOptions {
  /** ws(s)://host:port/worker */
  url: string;
  key: KeyFile;
  capability: Capability;
  slots: number;
  runners: RunnerSet;
  offer?: { units: number; price_per_unit: string; fee_pct_ct: number } | undefined;
  logger?: Logger;
  reconnect?: { initialDelayMs: number; maxDelayMs: number };
  random?: () => number;
  clock?: Clock;
  agentName?: string;
  /** A socket not welcomed this long after it opens is dropped and retried. */
  handshakeTimeoutMs?: number;
  /** The least time between two progress messages of one job (the last slice always reports, unless it is the only one). */
  progressIntervalMs?: number;
  /** Releases what the runners hold (the thread pool) once the agent has stopped. */
  onStopped?: () => Promise<void>;
}

export type StopReason = { kind: 'stopped' } | { kind: 'fatal'; code: number; reason: string };

const FATAL_CLOSES: ReadonlySet<number> = new Set([
  CLOSE.auth_failed,
  CLOSE.unsupported_version,
  CLOSE.replaced,
]);
const OUTBOX_LIMIT = 1000;
/** After aborting at the end of the grace period, how long runners get to notice. */
const ABORT_WAIT_MS = 5000;
/**
 * A connection is taken for dead after this many heartbeat intervals without a pong, and never
 * sooner than DEAD_AFTER_MIN_MS: a busy event loop on either side must not look like a dead link.
 */
const MISSED_PONGS = 3;
const DEAD_AFTER_MIN_MS = 10_000;

export class WorkerAgent {
  readonly events = new WorkerAgentEventBus();
  /** Resolves once the agent has stopped, by stop() or because the market refused it for good. */
  readonly done: Promise<StopReason>;

  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly backoff: Backoff;
  private readonly jobs: JobSlots;
  /** Failures not yet delivered (sent at the next welcome). */
  private readonly outbox: JobFailed[] = [];
  /** Results waiting for their batch to close, or for the next welcome. */
  private readonly pending: BatchedResult[] = [];
  private batchTimer: NodeJS.Timeout | undefined;
  private batchImmediate: NodeJS.Immediate | undefined;
  /** When the last batch was sent (clock ms). */
  private lastFlushAt = Number.NEGATIVE_INFINITY;
  private ws: WebSocket | null = null;
  private welcomed = false;
  private helloSent = false;
  private attempt = 0;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private lastPongAt = 0;
  private closing = false;
  private stopPromise: Promise<void> | null = null;
  private resolveDone!: (r: StopReason) => void;

  constructor(private readonly opts: WorkerAgentOptions) {
    this.log = opts.logger ?? pino({ level: 'silent' });
    this.clock = opts.clock ?? systemClock;
    this.backoff = new Backoff({
      initialDelayMs: opts.reconnect?.initialDelayMs ?? 500,
      maxDelayMs: opts.reconnect?.maxDelayMs ?? 30_000,
      ...(opts.random ? { random: opts.random } : {}),
    });
    this.jobs = new JobSlots({
      slots: opts.slots,
      executor: new JobExecutor(opts.runners),
      events: this.events,
      log: this.log,
      clock: this.clock,
      progressIntervalMs: opts.progressIntervalMs ?? 250,
      sendProgress: (msg) => this.send(msg),
      deliver: (msg) => this.deliver(msg),
    });
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  get address(): string {
    return this.opts.key.address;
  }

  /** Slots the market may still fill: none while draining. */
  get freeSlots(): number {
    return this.jobs.freeSlots;
  }

  /** Jobs whose leases this agent holds (running and not cancelled). */
  get leasedJobs(): string[] {
    return this.jobs.leasedJobs;
  }

  start(): void {
    if (this.ws || this.closing) return;
    this.connect();
  }

  /**
   * Graceful stop: announce no free slots, let running jobs finish for up to graceMs, abort the
   * rest (reported as `shutdown`), deliver what can be delivered, then close.
   */
  stop(graceMs = 30_000): Promise<void> {
    this.stopPromise ??= this.drainAndClose(graceMs);
    return this.stopPromise;
  }

  private async drainAndClose(graceMs: number): Promise<void> {
    this.jobs.draining = true;
    this.log.info({ running: this.jobs.runningCount, grace_ms: graceMs }, 'draining: no new jobs');
    this.sendHeartbeat();
    await this.jobs.settledWithin(graceMs);
    if (this.jobs.runningCount > 0) {
      this.log.warn({ jobs: this.jobs.leasedJobs }, 'grace period over: aborting running jobs');
      await this.jobs.abortAll(ABORT_WAIT_MS);
    }
    this.flushResults();
    const undelivered = this.outbox.length + this.pending.length;
    if (undelivered > 0) this.log.warn({ undelivered }, 'stopping with results the market has not received');
    await this.closeSocket();
    await this.finish({ kind: 'stopped' });
  }

  private async closeSocket(): Promise<void> {
    this.closing = true;
    clearTimeout(this.reconnectTimer);
    this.stopTimers();
    const ws = this.ws;
    if (!ws) return;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => ws.terminate(), 2000);
      ws.once('close', () => {
        clearTimeout(force);
        resolve();
      });
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(1000, 'worker shutting down');
    });
  }

  private async finish(reason: StopReason): Promise<void> {
    await this.opts.onStopped?.();
    this.log.info(reason, 'worker stopped');
    this.events.emit('stopped');
    this.resolveDone(reason);
  }

  // ─── connection ────────────────────────────────────────────────────────────────────────────

  private connect(): void {
    this.attempt++;
    this.welcomed = false;
    this.helloSent = false;
    this.events.emit('connecting', { url: this.opts.url, attempt: this.attempt });
    this.log.info({ url: this.opts.url, attempt: this.attempt }, 'connecting');
    const handshakeMs = this.opts.handshakeTimeoutMs ?? 15_000;
    const ws = new WebSocket(this.opts.url, {
      maxPayload: MAX_MESSAGE_BYTES,
      handshakeTimeout: handshakeMs,
      perMessageDeflate: false,
    });
    this.ws = ws;
    ws.on('open', () => {
      this.handshakeTimer = setTimeout(() => {
        this.log.warn(
          { timeout_ms: handshakeMs },
          'no welcome from the market in time; dropping the connection',
        );
        ws.terminate();
      }, handshakeMs);
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return this.invalid('binary frame');
      this.onMessage(data.toString());
    });
    ws.on('pong', () => (this.lastPongAt = this.clock.nowMs()));
    ws.on('error', (err) => this.log.debug({ err: err.message }, 'socket error'));
    ws.on('close', (code, reasonBytes) => this.onClose(ws, code, reasonBytes.toString()));
  }

  private onClose(ws: WebSocket, code: number, reason: string): void {
    if (this.ws !== ws) return;
    this.ws = null;
    this.welcomed = false;
    this.stopTimers();
    this.events.emit('disconnected', { code, reason });
    this.log.info({ code, reason }, 'connection closed');
    if (this.closing) return;
    if (FATAL_CLOSES.has(code)) {
      this.log.error({ code, reason }, 'the market refused this worker; not reconnecting');
      this.events.emit('fatal', { code, reason });
      this.closing = true;
      this.jobs.draining = true;
      // A later stop() waits for this same ending rather than starting a second one.
      this.stopPromise ??= this.jobs
        .abortAll(ABORT_WAIT_MS)
        .then(() => this.finish({ kind: 'fatal', code, reason }));
      return;
    }
    const delayMs = this.backoff.next();
    this.events.emit('reconnecting', { delayMs, attempt: this.backoff.attempts });
    this.log.info({ in_s: delayMs / 1000 }, `reconnecting in ${(delayMs / 1000).toFixed(1)}s`);
    this.reconnectTimer = setTimeout(() => this.connect(), delayMs);
  }

  private stopTimers(): void {
    clearTimeout(this.handshakeTimer);
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  private send(msg: Hello | Offer | Heartbeat | Progress | JobResults | JobFailed): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    if (msg.type !== 'hello' && !this.welcomed) return false;
    ws.send(JSON.stringify(msg));
    return true;
  }

  private invalid(problem: string): void {
    this.log.warn({ problem }, 'ignored a malformed message from the market');
    this.events.emit('message.invalid', { problem });
  }

  private deliver(msg: BatchedResult | JobFailed): void {
    if (!('reason' in msg)) {
      if (this.pending.length >= OUTBOX_LIMIT) {
        const dropped = this.pending.shift();
        this.log.warn({ job_id: dropped?.job_id }, 'outbox full: dropped the oldest undelivered result');
      }
      this.pending.push(msg);
      this.scheduleFlush();
      return;
    }
    if (this.send(msg)) return;
    if (this.outbox.length >= OUTBOX_LIMIT) {
      const dropped = this.outbox.shift();
      this.log.warn({ job_id: dropped?.job_id }, 'outbox full: dropped the oldest undelivered failure');
    }
    this.outbox.push(msg);
  }

  /**
   * Closes the open batch at once (after this turn of the event loop, so results finishing in it
   * share the batch) when the agent was idle: no job running and no batch sent in the last
   * RESULT_IDLE_MS. Otherwise more results are likely on their way, and the batch closes after
   * RESULT_BATCH_MS. So a lone job is not held back, and a busy worker signs few batches.
   */
  private scheduleFlush(): void {
    const idle = this.clock.nowMs() - this.lastFlushAt >= RESULT_IDLE_MS;
    if (idle && this.jobs.runningCount === 0) {
      if (this.batchImmediate) return;
      clearTimeout(this.batchTimer);
      this.batchTimer = undefined;
      this.batchImmediate = setImmediate(() => this.flushResults());
      return;
    }
    if (!this.batchImmediate) this.batchTimer ??= setTimeout(() => this.flushResults(), RESULT_BATCH_MS);
  }

  /** Signs and sends the waiting results, a batch per frame; kept for the next welcome when offline. */
  private flushResults(): void {
    clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    clearImmediate(this.batchImmediate);
    this.batchImmediate = undefined;
    if (this.pending.length === 0 || !this.welcomed) return;
    this.lastFlushAt = this.clock.nowMs();
    for (const batch of batches(this.pending)) {
      if (!this.send(signBatch(this.opts.key, batch))) break;
      this.pending.splice(0, batch.length);
    }
  }

  // ─── messages ──────────────────────────────────────────────────────────────────────────────

  private onMessage(text: string): void {
    const parsed = parseMarketMessage(text);
    if (!parsed.ok) {
      this.invalid(parsed.problem);
      // A job we cannot even read still gets an answer, so its lease does not have to expire.
      if (parsed.jobId && parsed.problem.startsWith('job:') && this.welcomed)
        this.send(failedMessage(parsed.jobId, 'invalid_payload', parsed.problem));
      return;
    }
    this.handle(parsed.message);
  }

  private handle(msg: MarketMessage): void {
    switch (msg.type) {
      case 'challenge':
        return this.onChallenge(msg.challenge, msg.protocol_version);
      case 'welcome':
        return this.onWelcome(msg.worker_address, msg.heartbeat_interval_ms);
      case 'offer_accepted':
        this.log.info({ offer_id: msg.offer_id }, 'offer accepted');
        this.events.emit('offer.accepted', { offerId: msg.offer_id });
        return;
      case 'job': {
        if (!this.welcomed) return this.invalid('a job before welcome');
        const refusal = this.jobs.accept(msg);
        if (refusal) this.send(refusal);
        return;
      }
      case 'cancel':
        return this.jobs.cancel(msg.job_id, msg.reason);
      case 'result_accepted':
        this.log.info({ job_id: msg.job_id }, 'result accepted');
        this.events.emit('result.accepted', { jobId: msg.job_id });
        return;
      case 'results_accepted':
        for (const jobId of msg.job_ids) {
          this.log.info({ job_id: jobId }, 'result accepted');
          this.events.emit('result.accepted', { jobId });
        }
        return;
      case 'notice':
        this.log.warn({ code: msg.code }, msg.message);
        this.events.emit('market.notice', msg);
        return;
      case 'error':
        this.log.warn(
          { code: msg.code, job_id: msg.job_id, message: msg.message },
          'market rejected a message',
        );
        this.events.emit('market.error', msg);
        return;
    }
  }

  private onChallenge(challenge: string, version: number): void {
    if (this.helloSent) return this.invalid('a second challenge on one connection');
    if (version !== PROTOCOL_VERSION)
      this.log.warn(
        { market: version, agent: PROTOCOL_VERSION },
        'the market speaks another protocol version',
      );
    const key = this.opts.key;
    const hello: Hello = {
      type: 'hello',
      protocol_version: PROTOCOL_VERSION,
      public_key: key.public_key,
      address: key.address,
      signature: signMessage(key.private_key, utf8ToBytes(helloMessage(challenge))),
      capability: this.opts.capability,
      free_slots: this.freeSlots,
      agent: (this.opts.agentName ?? 'taskmarket-worker').slice(0, 100),
    };
    this.helloSent = this.send(hello);
  }

  private onWelcome(address: string, heartbeatIntervalMs: number): void {
    if (!this.helloSent || this.welcomed) return this.invalid('welcome out of order');
    if (address !== this.address) this.log.warn({ address }, 'welcomed under another address');
    clearTimeout(this.handshakeTimer);
    this.welcomed = true;
    this.backoff.reset();
    const interval = Math.min(600_000, Math.max(50, heartbeatIntervalMs));
    this.lastPongAt = this.clock.nowMs();
    this.heartbeatTimer = setInterval(() => this.tick(interval), interval);
    this.log.info({ address, heartbeat_interval_ms: interval }, 'connected');
    if (this.opts.offer && !this.jobs.draining) this.send({ type: 'offer', ...this.opts.offer });
    if (this.jobs.runningCount > 0 || this.jobs.draining) this.sendHeartbeat();
    for (const msg of this.outbox.splice(0)) this.send(msg);
    this.flushResults();
    this.events.emit('connected', { address, heartbeatIntervalMs: interval });
  }

  private tick(intervalMs: number): void {
    const ws = this.ws;
    if (!ws) return;
    if (this.clock.nowMs() - this.lastPongAt > Math.max(MISSED_PONGS * intervalMs, DEAD_AFTER_MIN_MS)) {
      this.log.warn({ missed: MISSED_PONGS }, 'the market stopped answering pings; dropping the connection');
      ws.terminate();
      return;
    }
    this.sendHeartbeat();
    ws.ping();
  }

  private sendHeartbeat(): void {
    this.send({ type: 'heartbeat', free_slots: this.freeSlots, jobs: this.leasedJobs });
  }
}
