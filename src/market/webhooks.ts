// Webhook delivery: tells a task's URL when the task ends, signed, at least once.
//
// Two steps, both driven by what the database holds so a restart loses nothing:
// 1. queue: ended tasks whose webhook was not yet told (task_webhooks.notified_status IS NULL)
//    get a delivery row, in the transaction that marks them told;
// 2. send: due pending deliveries are claimed (their next attempt moves ahead, so a crash mid-send
//    only delays them), POSTed, and marked delivered on a 2xx or scheduled again with backoff.
// A crash between a receiver's 2xx and the mark sends the delivery again: receivers drop repeats
// by the TaskMarket-Delivery header. Events (task.completed, task.closed) only wake the loop sooner.

import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { unixSeconds, type Clock } from '../domain/clock.js';
import {
  DELIVERY_HEADER,
  EVENT_HEADER,
  retryDelayMs,
  SIGNATURE_HEADER,
  WEBHOOK_MAX_ATTEMPTS,
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
  unnotifiedEndedTasks,
  type DeliveryRow,
} from '../store/webhooks.js';
import type { MarketEventBus } from './events.js';
import { Rerun } from './rerun.js';
import { taskView, type TaskService } from './tasks.js';

/** A receiver has this long to answer one attempt. */
const ATTEMPT_TIMEOUT_MS = 10_000;
/** How long a claimed delivery is left to the node that claimed it before another may try. */
const CLAIM_MS = 3 * ATTEMPT_TIMEOUT_MS;
const BATCH = 32;
/** Job outputs ride along in the body up to this many jobs; larger tasks are read from /tasks/{id}/jobs. */
export const WEBHOOK_MAX_JOBS = 100;

export class WebhookService {
  private readonly rounds: Rerun;
  private stopped = false;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly events: MarketEventBus,
    private readonly tasks: TaskService,
    private readonly logger: Logger,
  ) {
    this.rounds = new Rerun(
      () => this.round(),
      (err) => this.logger.error({ err }, 'webhook round failed'),
    );
    const wake = () => this.kick();
    events.on('task.completed', wake);
    events.on('task.closed', wake);
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

  /** Queues deliveries for ended tasks, then sends what is due. */
  async round(): Promise<void> {
    await this.queueEnded();
    await this.sendDue();
  }

  async queueEnded(): Promise<number> {
    let queued = 0;
    for (const taskId of await unnotifiedEndedTasks(this.db, BATCH)) {
      const row = await getTask(this.db, taskId);
      if (!row) continue;
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
      const done = await this.db.transaction(async (tx) => {
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
        return true;
      });
      if (done) queued++;
    }
    return queued;
  }

  async sendDue(): Promise<number> {
    let sent = 0;
    for (;;) {
      const due = await claimDueDeliveries(this.db, this.clock.nowMs(), CLAIM_MS, BATCH);
      if (due.length === 0) return sent;
      await Promise.all(due.map((d) => this.attempt(d)));
      sent += due.length;
      if (due.length < BATCH || this.stopped) return sent;
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
    await markAttemptFailed(
      this.db,
      d.delivery_id,
      error,
      giveUp ? null : now + retryDelayMs(d.attempts),
      now,
    );
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

  /** One POST; undefined when the receiver took it (2xx), otherwise why not. */
  private async post(d: DeliveryRow): Promise<string | undefined> {
    try {
      const res = await fetch(d.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'taskmarket-webhook/1',
          [SIGNATURE_HEADER]: webhookSignature(d.secret, unixSeconds(this.clock), d.body),
          [DELIVERY_HEADER]: d.delivery_id,
          [EVENT_HEADER]: d.event,
        },
        body: d.body,
        redirect: 'manual',
        signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
      });
      await res.body?.cancel().catch(() => {});
      return res.status >= 200 && res.status < 300 ? undefined : `HTTP ${res.status}`;
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      return cause ?? (err as Error).message;
    }
  }
}
