// Webhook delivery: tells a task's URL when the task ends, signed, at least once.
//
// Two steps, both driven by what the database holds so a restart loses nothing:
// 1. queue: ended tasks whose webhook was not yet told (task_webhooks.notified_status IS NULL)
//    get a delivery row, in the transaction that marks them told. The tasks are those whose end
//    this node announced (task.completed, task.closed), looked up by id; and, as the backstop
//    for an end no event announced (the node stopped in between), a sweep over the webhooks due
//    for a look (check_ms, by index, a batch at a time), each looked at once a minute while its
//    task runs; after a start every waiting webhook is looked at once.
// 2. send: due pending deliveries are claimed (their next attempt moves ahead, so a crash mid-send
//    only delays them), POSTed, and marked delivered on a 2xx or scheduled again with backoff.
// A crash between a receiver's 2xx and the mark sends the delivery again: receivers drop repeats
// by the TaskMarket-Delivery header.
//
// A round reads only what can be due (issue #11: a market whose tasks name no webhook paid a
// lookup per result commit and two sweeps per round). One read (webhookDueTimes) tells the
// earliest look and the earliest delivery due; this node lowers them when it creates a webhook,
// queues a delivery or schedules a retry (./next-due.ts). While no webhook waits anywhere, an
// announced end needs no lookup: it is set aside until the next read, which looks it up after all
// if a webhook waits by then (another node's task: its row was committed before the end, so that
// read sees it) and forgets it otherwise. The read runs after every round that did work, every
// second while webhooks wait, and otherwise only where other nodes may share the database, every
// sweep_fallback_interval_ms; on PGlite this node is the whole market and knows it all.
//
// Deliveries go only to public addresses unless webhook_allow_private is set (./webhook-guard.ts):
// the check is made on the addresses the connection is made to, at every attempt.

import { randomUUID } from 'node:crypto';
import { request as httpRequest, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Logger } from 'pino';
import { unixSeconds, type Clock } from '../domain/clock.js';
import {
  DELIVERY_HEADER,
  EVENT_HEADER,
  retryDelayMs,
  SIGNATURE_HEADER,
  WEBHOOK_MAX_ATTEMPTS,
  WEBHOOK_RECHECK_MS,
  webhookSignature,
} from '../domain/webhook.js';
import type { Db } from '../store/db.js';
import { getTask } from '../store/tasks.js';
import {
  claimDueDeliveries,
  insertDelivery,
  markAttemptFailed,
  markDelivered,
  markNotified,
  sweepDueWebhooks,
  unnotifiedEndedAmong,
  webhookDueTimes,
  type DeliveryRow,
} from '../store/webhooks.js';
import type { MarketEventBus } from './events.js';
import { NextDue } from './next-due.js';
import { Rerun } from './rerun.js';
import { taskView, type TaskService } from './tasks.js';
import { privateLiteral, publicOnlyLookup } from './webhook-guard.js';

/** A receiver has this long to answer one attempt. */
const ATTEMPT_TIMEOUT_MS = 10_000;
/** How long a claimed delivery is left to the node that claimed it before another may try. */
const CLAIM_MS = 3 * ATTEMPT_TIMEOUT_MS;
const BATCH = 32;
/** Announced ends looked up by id at a time (a primary-key read). */
const LOOKUP_BATCH = 500;
/** The sweep looks at most this many webhooks a round (after the first, which looks at all). */
const SWEEP_BATCHES = 4;
/** Job outputs ride along in the body up to this many jobs; larger tasks are read from /tasks/{id}/jobs. */
export const WEBHOOK_MAX_JOBS = 100;

export interface WebhookOptions {
  /** Deliver to loopback, private and link-local addresses too (config webhook_allow_private). */
  allowPrivate: boolean;
  /**
   * Where other nodes may share the database (PostgreSQL): how often a round reads the due times
   * although this node knows of nothing due (config sweep_fallback_interval_ms). Undefined: never
   * (PGlite, where this node is the whole market).
   */
  fallbackMs?: number;
}

export class WebhookService {
  private readonly rounds: Rerun;
  private stopped = false;
  /** Tasks whose end this node announced, to queue by id in the next round. */
  private readonly ended = new Set<string>();
  /** The first round after start looks at every waiting webhook, not only the due ones. */
  private sweptOnce = false;
  /** Announced ends not looked up while no webhook waited, for the next read to settle. */
  private readonly setAside = new Set<string>();
  /** The earliest webhook look and delivery attempt due. */
  private readonly looks = new NextDue();
  private readonly sends = new NextDue();
  /** The next round reads the due times first; when the last read was, ms. */
  private readAgain = true;
  private readAtMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly events: MarketEventBus,
    private readonly tasks: TaskService,
    private readonly logger: Logger,
    private readonly options: WebhookOptions = { allowPrivate: false },
  ) {
    this.rounds = new Rerun(
      () => this.round(),
      (err) => this.logger.error({ err }, 'webhook round failed'),
    );
    const wake = ({ taskId }: { taskId: string }) => {
      this.ended.add(taskId);
      this.kick();
    };
    events.on('task.completed', wake);
    events.on('task.closed', wake);
    // An audit's correction set the task's webhook waiting again.
    events.on('task.corrected', (e) => {
      this.looks.lower(this.clock.nowMs());
      wake(e);
    });
    events.on('task.created', ({ webhookCheckMs }) => {
      if (webhookCheckMs !== null) this.looks.lower(webhookCheckMs);
    });
  }

  /**
   * The once-a-second tick: a round, reading the due times first while webhooks wait, when
   * something is due, or at the fallback poll.
   */
  tick(): void {
    const now = this.clock.nowMs();
    const { fallbackMs } = this.options;
    if (this.looks.waiting() || (fallbackMs !== undefined && now - this.readAtMs >= fallbackMs))
      this.readAgain = true;
    if (this.readAgain || this.looks.due(now) || this.sends.due(now)) this.kick();
  }

  /** Runs a round now, or right after the one in progress. */
  kick(): void {
    if (!this.stopped) this.rounds.kick();
  }

  /** Waits for the round in progress; no new round starts. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.rounds.idle();
  }

  /** Queues deliveries for ended tasks, then sends what is due; reads what is due when told. */
  async round(): Promise<void> {
    if (this.readAgain) await this.readDue();
    await this.queueEnded();
    if (this.sends.due(this.clock.nowMs())) await this.sendDue();
  }

  /** Reads the earliest look and delivery due, and settles the ends set aside before it. */
  private async readDue(): Promise<void> {
    this.readAgain = false;
    this.readAtMs = this.clock.nowMs();
    const before = [...this.setAside];
    this.setAside.clear();
    this.looks.reading();
    this.sends.reading();
    let due: Awaited<ReturnType<typeof webhookDueTimes>>;
    try {
      due = await webhookDueTimes(this.db);
    } catch (err) {
      // Nothing learnt: the set-aside ends wait for the next read, which comes at the next tick.
      for (const id of before) this.setAside.add(id);
      this.readAgain = true;
      throw err;
    }
    this.looks.read(due.look_ms);
    this.sends.read(due.send_ms);
    // Ended before the read began: had one a webhook not told yet, the read would have seen it.
    if (this.looks.waiting()) for (const id of before) this.ended.add(id);
  }

  /** Queues the deliveries of ended tasks: those announced here, then those the sweep finds. */
  async queueEnded(): Promise<number> {
    let queued = 0;
    const announced = [...this.ended];
    this.ended.clear();
    if (!this.looks.waiting()) {
      // No webhook waited at the last read and none was made here since: on a database of its
      // own this node would know of any, elsewhere the next read settles these.
      if (this.options.fallbackMs !== undefined) for (const id of announced) this.setAside.add(id);
      announced.length = 0;
    }
    for (let i = 0; i < announced.length; i += LOOKUP_BATCH) {
      const ids = announced.slice(i, i + LOOKUP_BATCH);
      for (const taskId of await unnotifiedEndedAmong(this.db, ids)) if (await this.queue(taskId)) queued++;
    }
    const now = this.clock.nowMs();
    if (!this.looks.due(now)) return queued;
    // After a start every waiting webhook is due: an end may have gone unannounced while the
    // node was down. Later only those whose look is due, a bounded number a round. A looked-at
    // webhook moves to now + WEBHOOK_RECHECK_MS, past dueMs, so no batch reads it twice.
    const dueMs = this.sweptOnce ? now : now + WEBHOOK_RECHECK_MS - 1;
    for (let n = 0; this.sweptOnce ? n < SWEEP_BATCHES : true; n++) {
      const { looked, ended } = await sweepDueWebhooks(this.db, dueMs, now + WEBHOOK_RECHECK_MS, BATCH);
      for (const taskId of ended) if (await this.queue(taskId)) queued++;
      if (looked < BATCH || this.stopped) break;
    }
    this.sweptOnce = true;
    // The looked-at webhooks moved a minute ahead; the next read tells what is due next.
    this.looks.read(now + WEBHOOK_RECHECK_MS);
    this.readAgain = true;
    return queued;
  }

  /** Queues the delivery of one ended task; false when another round or node already did. */
  private async queue(taskId: string): Promise<boolean> {
    const row = await getTask(this.db, taskId);
    if (!row) return false;
    const jobs =
      row.jobs_total <= WEBHOOK_MAX_JOBS
        ? (await this.tasks.jobs({ kind: 'operator' }, taskId, () => undefined)).jobs
        : undefined;
    const deliveryId = randomUUID();
    const event = `task.${row.status}`;
    const body = JSON.stringify({
      event,
      delivery_id: deliveryId,
      task: taskView(row),
      ...(jobs ? { jobs } : {}),
    });
    return this.db.transaction(async (tx) => {
      const url = await markNotified(tx, taskId, row.status);
      if (url === undefined) return false;
      await insertDelivery(tx, {
        delivery_id: deliveryId,
        task_id: taskId,
        event,
        url,
        body,
        now_ms: this.clock.nowMs(),
      });
      this.sends.lower(this.clock.nowMs());
      return true;
    });
  }

  async sendDue(): Promise<number> {
    let sent = 0;
    // What was due is claimed now (moved CLAIM_MS ahead); the next read tells what is due next.
    const claimedUntil = this.clock.nowMs() + CLAIM_MS;
    this.sends.read(claimedUntil);
    this.readAgain = true;
    for (;;) {
      const due = await claimDueDeliveries(this.db, this.clock.nowMs(), CLAIM_MS, BATCH);
      if (due.length === 0) return sent;
      await Promise.all(due.map((d) => this.attempt(d)));
      sent += due.length;
      if (due.length < BATCH || this.stopped) {
        if (due.length === BATCH) this.sends.unknown();
        return sent;
      }
    }
  }

  private async attempt(d: DeliveryRow): Promise<void> {
    const error = await this.post(d);
    const now = this.clock.nowMs();
    if (error === undefined) {
      await markDelivered(this.db, d.delivery_id, now);
      this.events.emit('webhook.delivered', {
        deliveryId: d.delivery_id,
        taskId: d.task_id,
        attempts: d.attempts,
      });
      return;
    }
    const giveUp = d.attempts >= WEBHOOK_MAX_ATTEMPTS;
    const nextMs = giveUp ? null : now + retryDelayMs(d.attempts);
    await markAttemptFailed(this.db, d.delivery_id, error, nextMs, now);
    if (nextMs !== null) this.sends.lower(nextMs);
    this.logger.warn(
      { delivery: d.delivery_id, task: d.task_id, attempts: d.attempts, error, gave_up: giveUp },
      'webhook delivery failed',
    );
    this.events.emit('webhook.failed', {
      deliveryId: d.delivery_id,
      taskId: d.task_id,
      attempts: d.attempts,
      error,
      final: giveUp,
    });
  }

  /**
   * One POST; undefined when the receiver took it (2xx), otherwise why not. Redirects are not
   * followed (a 3xx is a refusal). Unless private addresses are allowed, the connection is made
   * only to public addresses, checked on the very addresses resolved for it.
   */
  private post(d: DeliveryRow): Promise<string | undefined> {
    let url: URL;
    try {
      url = new URL(d.url);
    } catch {
      return Promise.resolve('not a URL');
    }
    if (!this.options.allowPrivate) {
      const literal = privateLiteral(d.url);
      if (literal)
        return Promise.resolve(
          `${literal} is a loopback, private or link-local address (webhook_allow_private is false)`,
        );
    }
    const options: RequestOptions = {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(d.body),
        'user-agent': 'taskmarket-webhook/1',
        [SIGNATURE_HEADER]: webhookSignature(d.secret, unixSeconds(this.clock), d.body),
        [DELIVERY_HEADER]: d.delivery_id,
        [EVENT_HEADER]: d.event,
      },
      ...(this.options.allowPrivate ? {} : { lookup: publicOnlyLookup as RequestOptions['lookup'] }),
    };
    return new Promise((resolve) => {
      let done = false;
      const finish = (outcome: string | undefined) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve(outcome);
      };
      const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, options, (res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        res.once('error', () => {});
        finish(status >= 200 && status < 300 ? undefined : `HTTP ${status}`);
      });
      const timer = setTimeout(() => req.destroy(new Error('timed out')), ATTEMPT_TIMEOUT_MS);
      req.once('error', (err: NodeJS.ErrnoException) =>
        finish(err.code === 'EPRIVATEADDRESS' ? err.message : (err.code ?? err.message)),
      );
      req.end(d.body);
    });
  }
}
