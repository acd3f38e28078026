// A stand-in for the market's worker gateway, played by the test: a ws.WebSocketServer on a
// random port that sends the challenge on connect and records what the agent sends, so a test
// can await "the next hello" or "the next job_result" instead of sleeping.

import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { PROTOCOL_VERSION, type MarketMessage } from '../../src/domain/schemas/worker.js';

export type Sent = { type: string; [key: string]: unknown };

interface Waiter {
  match: (m: Sent) => boolean;
  resolve: (m: Sent) => void;
}

export class FakeConnection {
  readonly challenge = randomBytes(32).toString('hex');
  /** Everything the agent sent, in order (never consumed). */
  readonly log: Sent[] = [];
  private readonly unread: Sent[] = [];
  private waiters: Waiter[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString()) as Sent;
      this.received(msg);
      // A batch of results also reads as one job_result per result, with the batch's signature.
      if (msg.type === 'job_results')
        for (const r of msg.results as Record<string, unknown>[])
          this.received({
            ...r,
            type: 'job_result',
            worker_address: msg.worker_address,
            batch_root: msg.batch_root,
            signature: msg.signature,
          });
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    this.send({ type: 'challenge', protocol_version: PROTOCOL_VERSION, challenge: this.challenge });
  }

  private received(msg: Sent): void {
    this.log.push(msg);
    const waiter = this.waiters.find((w) => w.match(msg));
    if (waiter) {
      this.waiters = this.waiters.filter((w) => w !== waiter);
      waiter.resolve(msg);
    } else this.unread.push(msg);
  }

  /** The next unread message of a type (and matching a filter), waiting for it if need be. */
  next<T extends Sent = Sent>(type: string, filter: (m: T) => boolean = () => true): Promise<T> {
    const match = (m: Sent) => m.type === type && filter(m as T);
    const i = this.unread.findIndex(match);
    if (i >= 0) return Promise.resolve(this.unread.splice(i, 1)[0] as T);
    return new Promise((resolve) => this.waiters.push({ match, resolve: resolve as (m: Sent) => void }));
  }

  send(msg: MarketMessage | Record<string, unknown>): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  /** Sends messages in one write to the socket, as the market's gateway sends a turn's frames. */
  sendTogether(msgs: readonly (MarketMessage | Record<string, unknown>)[]): void {
    const socket = (this.ws as unknown as { _socket: { cork(): void; uncork(): void } })._socket;
    socket.cork();
    for (const m of msgs) this.send(m);
    socket.uncork();
  }

  sendRaw(text: string): void {
    this.ws.send(text);
  }

  welcome(address: string, heartbeatIntervalMs = 50): void {
    this.send({
      type: 'welcome',
      worker_address: address,
      heartbeat_interval_ms: heartbeatIntervalMs,
      lease_ms: 30_000,
    });
  }
}

export class FakeMarket {
  private readonly pending: FakeConnection[] = [];
  private waiting: ((c: FakeConnection) => void)[] = [];
  readonly connections: FakeConnection[] = [];

  private constructor(
    private readonly wss: WebSocketServer,
    readonly url: string,
  ) {
    wss.on('connection', (ws) => {
      const conn = new FakeConnection(ws);
      this.connections.push(conn);
      const waiter = this.waiting.shift();
      if (waiter) waiter(conn);
      else this.pending.push(conn);
    });
  }

  /** autoPong false: a market whose process hangs (pings go unanswered). */
  static async start(opts: { autoPong?: boolean } = {}): Promise<FakeMarket> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, autoPong: opts.autoPong ?? true });
    await new Promise<void>((resolve) => wss.once('listening', resolve));
    return new FakeMarket(wss, `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/worker`);
  }

  /** The next connection the agent opens. */
  nextConnection(): Promise<FakeConnection> {
    const conn = this.pending.shift();
    if (conn) return Promise.resolve(conn);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  async close(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((resolve, reject) => this.wss.close((err) => (err ? reject(err) : resolve())));
  }
}
