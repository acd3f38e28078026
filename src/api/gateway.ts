// The worker gateway: WebSocket at GET /worker. A worker proves its address by signing a random
// challenge, then every message is validated against its schema before the dispatcher sees it.
// Bad messages get an `error` reply; bad identity, bad framing or a flood close the socket with
// a reason code. Nothing a worker sends changes state unless it passed those checks.

import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ValidateFunction } from 'ajv';
import type { FastifyInstance } from 'fastify';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { utf8 } from '../domain/hash.js';
import { addressFromPublicKey, verifySignature } from '../domain/identity.js';
import {
  CLOSE,
  helloMessage,
  MAX_MESSAGE_BYTES,
  PROTOCOL_VERSION,
  WORKER_MESSAGES,
  type Hello,
  type MarketMessage,
  type WorkerMessage,
} from '../domain/schemas/worker.js';
import { take, type Bucket } from '../domain/token-bucket.js';
import { ResultRejected, type Dispatcher } from '../market/dispatcher.js';
import type { Market } from '../market/market.js';
import type { Session } from '../market/sessions.js';
import { fieldProblems, strictAjv } from './validation.js';

const HELLO_TIMEOUT_MS = 10_000;

/** Each message type's validator, compiled on the first message of that type, not at every start. */
const validators = new Map<WorkerMessage['type'], ValidateFunction>();
function validatorOf(type: WorkerMessage['type']): ValidateFunction {
  let validate = validators.get(type);
  if (!validate) {
    validate = strictAjv.compile(WORKER_MESSAGES[type]);
    validators.set(type, validate);
  }
  return validate;
}

type Parsed = { ok: true; msg: WorkerMessage } | { ok: false; message: string };

/** Parses and validates one frame; the message says what was wrong, by field path. */
export function parseWorkerMessage(data: RawData): Parsed {
  let value: unknown;
  try {
    value = JSON.parse(data.toString());
  } catch {
    return { ok: false, message: 'message is not JSON' };
  }
  const type = (value as { type?: unknown } | null)?.type;
  if (typeof type !== 'string' || !Object.hasOwn(WORKER_MESSAGES, type))
    return {
      ok: false,
      message: `unknown message type ${JSON.stringify(type)}; expected one of ${Object.keys(WORKER_MESSAGES).join(', ')}`,
    };
  const validate = validatorOf(type as WorkerMessage['type']);
  if (!validate(value)) {
    const p = fieldProblems(validate.errors ?? [], 'body')[0];
    return { ok: false, message: `${type}: ${p?.path || 'message'} ${p?.message ?? 'is invalid'}` };
  }
  return { ok: true, msg: value as WorkerMessage };
}

export function attachGateway(app: FastifyInstance, market: Market, dispatcher: Dispatcher): void {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  app.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (request.url ?? '').split('?')[0];
    if (path !== '/worker') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => connection(ws, socket, market, dispatcher));
  });
  app.addHook('onClose', async () => {
    for (const ws of wss.clients) ws.close(CLOSE.shutting_down, 'market shutting down');
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });
}

/**
 * Sends to one worker; the messages sent in one turn of the event loop (a dispatch tick hands a
 * worker ~20 jobs at once under load) leave in one socket write instead of a syscall each: the
 * socket is corked at the first and uncorked once the turn's work is done (process.nextTick runs
 * after the microtasks the tick's awaits chain through). ws's own per-frame cork nests inside.
 */
export function coalescingSender(ws: WebSocket, socket: Duplex): (m: MarketMessage) => void {
  let corked = false;
  const uncork = () => {
    corked = false;
    socket.uncork();
  };
  return (m) => {
    if (ws.readyState !== ws.OPEN) return;
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(uncork);
    }
    ws.send(JSON.stringify(m));
  };
}

function connection(ws: WebSocket, socket: Duplex, market: Market, dispatcher: Dispatcher): void {
  const log = market.logger.child({ component: 'gateway' });
  const challenge = randomBytes(32).toString('hex');
  const rate = market.config.worker_messages_per_second;
  let bucket: Bucket | undefined;
  let session: Session | undefined;
  const send = coalescingSender(ws, socket);
  let refused = false;
  const refuse = (code: number, reason: string) => {
    if (refused) return;
    refused = true;
    log.warn({ code, reason, address: session?.address }, 'worker connection refused');
    ws.close(code, reason);
  };

  send({ type: 'challenge', protocol_version: PROTOCOL_VERSION, challenge });
  const helloTimer = setTimeout(() => refuse(CLOSE.hello_timeout, 'no hello in time'), HELLO_TIMEOUT_MS);

  // Messages are handled one at a time, in order, so a result never overtakes its heartbeat.
  let chain = Promise.resolve();
  ws.on('message', (data) => {
    if (refused) return;
    const taken = take(bucket, market.clock.nowMs(), rate * 2, rate);
    bucket = taken.bucket;
    if (!taken.ok) return refuse(CLOSE.flood, `more than ${rate} messages per second`);
    chain = chain
      .then(() => handle(data))
      .catch((err: unknown) => log.error({ err }, 'worker message failed'));
  });
  ws.on('close', (code, reason) => {
    clearTimeout(helloTimer);
    const s = session;
    if (!s) return;
    chain = chain
      .then(() => dispatcher.unregister(s, `closed ${code}`))
      .then(() => {
        market.events.emit('worker.disconnected', { address: s.address, code, reason: reason.toString() });
      })
      .catch((err: unknown) => log.error({ err }, 'worker cleanup failed'));
  });
  ws.on('error', (err) => log.warn({ err }, 'worker socket error'));

  async function handle(data: RawData): Promise<void> {
    const parsed = parseWorkerMessage(data);
    if (!parsed.ok) {
      if (!session) return refuse(CLOSE.protocol_error, parsed.message.slice(0, 120));
      return send({ type: 'error', code: 'invalid_message', message: parsed.message });
    }
    const msg = parsed.msg;
    if (!session) {
      if (msg.type !== 'hello') return refuse(CLOSE.protocol_error, 'the first message must be hello');
      return hello(msg);
    }
    try {
      switch (msg.type) {
        case 'hello':
          return send({
            type: 'error',
            code: 'already_authenticated',
            message: 'hello was already accepted',
          });
        case 'offer':
          return send({ type: 'offer_accepted', offer_id: await dispatcher.offer(session, msg) });
        case 'heartbeat':
          // Only memory changes: confirmed leases are renewed in bulk by the lease keeper.
          return dispatcher.heartbeat(session, msg.free_slots, msg.jobs);
        case 'progress':
          market.events.emit('job.progress', {
            jobId: msg.job_id,
            worker: session.address,
            done: msg.slices_done,
            total: msg.slices_total,
          });
          return;
        case 'job_result': {
          // Results commit in groups: the next message need not wait for this one's commit.
          const s = session;
          void dispatcher.result(s, msg).then(
            () => send({ type: 'result_accepted', job_id: msg.job_id }),
            (err: unknown) => rejected(s, msg, err),
          );
          return;
        }
        case 'job_results': {
          // One answer for the batch: the accepted jobs together, an error per refused one.
          const s = session;
          void dispatcher.results(s, msg).then(
            (outcome) => {
              if (outcome.accepted.length > 0) send({ type: 'results_accepted', job_ids: outcome.accepted });
              for (const r of outcome.rejected) rejected(s, { type: 'job_result', job_id: r.jobId }, r.error);
            },
            // A batch refused whole (its signature): each of its jobs is answered.
            (err: unknown) => {
              for (const r of msg.results) rejected(s, { type: 'job_result', job_id: r.job_id }, err);
            },
          );
          return;
        }
        case 'job_failed':
          return await dispatcher.failed(session, msg);
      }
    } catch (err) {
      rejected(session, msg, err);
    }
  }

  function rejected(s: Session, msg: WorkerMessage | { type: string; job_id: string }, err: unknown): void {
    if (!(err instanceof ResultRejected)) {
      log.error({ err, address: s.address, type: msg.type }, 'worker message failed');
      send({
        type: 'error',
        code: 'internal',
        message: 'the market failed to handle this message; it is unchanged',
      });
      return;
    }
    log.warn({ address: s.address, code: err.code, reason: err.message }, 'worker message rejected');
    const jobId = 'job_id' in msg ? msg.job_id : undefined;
    send({ type: 'error', code: err.code, message: err.message, ...(jobId ? { job_id: jobId } : {}) });
  }

  async function hello(msg: Hello): Promise<void> {
    clearTimeout(helloTimer);
    if (msg.protocol_version !== PROTOCOL_VERSION)
      return refuse(
        CLOSE.unsupported_version,
        `protocol version ${msg.protocol_version} is not supported; this market speaks ${PROTOCOL_VERSION}`,
      );
    let derived: string;
    try {
      derived = addressFromPublicKey(msg.public_key);
    } catch {
      return refuse(CLOSE.auth_failed, 'public_key is not a compressed secp256k1 key');
    }
    if (derived !== msg.address) return refuse(CLOSE.auth_failed, 'address does not belong to public_key');
    if (!verifySignature(msg.public_key, utf8(helloMessage(challenge)), msg.signature))
      return refuse(CLOSE.auth_failed, 'signature over the challenge does not verify');
    session = {
      address: msg.address,
      publicKey: msg.public_key,
      capability: msg.capability,
      slots: msg.free_slots,
      offer: null,
      running: new Map(),
      send,
      close: (code, reason) => ws.close(code, reason),
    };
    send({
      type: 'welcome',
      worker_address: msg.address,
      heartbeat_interval_ms: market.config.heartbeat_interval_ms,
      lease_ms: market.config.lease_ms,
    });
    await dispatcher.register(session);
    log.info({ address: msg.address, capability: msg.capability, slots: msg.free_slots }, 'worker connected');
  }
}
