// GET /dashboard/events: tells open dashboards when to read GET /dashboard/state again, as
// server-sent events, so that a page follows the market as it changes instead of polling.
//
// An event is a hint and carries nothing (`event: changed`, `data: {}`): what a page may see
// depends on its key, and a browser's EventSource cannot send one, so the page reads the state
// with its key when told. That also makes the stream public without leaking anything. Hints are
// coalesced: at most one a HINT_INTERVAL_MS (the first after a quiet spell at once), so a busy
// market costs each page at most one state read a second. One set of listeners on the event bus
// serves every stream. Changes that no event of this node announces (other nodes, offers) show at
// the page's slow fallback poll.

import { PassThrough } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { Clock } from '../../domain/clock.js';
import { MarketError } from '../../domain/errors.js';
import { ErrorBody } from '../../domain/schemas/common.js';
import type { MarketEventBus, MarketEvents } from '../../market/events.js';
import type { Market } from '../../market/market.js';
import { sendEventStream } from '../event-stream.js';

/** The most often a page is told to read the state again. */
export const HINT_INTERVAL_MS = 1000;
/** Open dashboard streams one node serves; past it the answer is 503 and the page polls. */
export const MAX_DASHBOARD_STREAMS = 100;
const KEEPALIVE_MS = 15_000;

/** Market events that change what the dashboard shows. */
const CHANGES: (keyof MarketEvents)[] = [
  'task.created',
  'task.closed',
  'task.completed',
  'job.queued',
  'job.dispatched',
  'job.completed',
  'job.failed',
  'job.cancelled',
  'job.stopped',
  'lease.expired',
  'admission.mode',
  'worker.connected',
  'worker.disconnected',
  'reputation.adjusted',
  'settle.mode_changed',
  'settle.applied',
  'courier.acknowledged',
  'courier.failure',
];

class DashboardHints {
  private readonly streams = new Set<PassThrough>();
  private timer: NodeJS.Timeout | undefined;
  private lastMs = 0;
  private readonly keepalive: NodeJS.Timeout;

  constructor(
    events: MarketEventBus,
    private readonly clock: Clock,
  ) {
    const changed = () => this.changed();
    for (const name of CHANGES) events.on(name, changed);
    this.keepalive = setInterval(() => {
      for (const s of this.streams) s.write(': keep-alive\n\n');
    }, KEEPALIVE_MS);
    this.keepalive.unref();
  }

  get size(): number {
    return this.streams.size;
  }

  add(stream: PassThrough): void {
    this.streams.add(stream);
    // The page reads the state once the stream is open; `retry` paces EventSource's reconnects.
    stream.write(`retry: 2000\nevent: ready\ndata: {}\n\n`);
  }

  remove(stream: PassThrough): void {
    this.streams.delete(stream);
  }

  /** A change: one hint now, or at the end of the current interval if one was just sent. */
  private changed(): void {
    if (this.timer !== undefined || this.streams.size === 0) return;
    const wait = Math.max(0, this.lastMs + HINT_INTERVAL_MS - this.clock.nowMs());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.lastMs = this.clock.nowMs();
      for (const s of this.streams) s.write('event: changed\ndata: {}\n\n');
    }, wait);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.keepalive);
    clearTimeout(this.timer);
    for (const s of this.streams) s.end();
    this.streams.clear();
  }
}

export function dashboardEventRoutes(app: FastifyInstance, market: Market): void {
  const hints = new DashboardHints(market.events, market.clock);
  app.addHook('preClose', async () => hints.close());

  app.get(
    '/dashboard/events',
    {
      schema: {
        summary: 'When to read /dashboard/state again: server-sent `changed` hints, at most one a second',
        description:
          'Public; the events carry no data (`event: ready` once, then `event: changed`), the page reads GET /dashboard/state with its own key when told. 503 when the node already serves its most open dashboard streams: the page then polls.',
        tags: ['dashboard'],
        security: [],
        produces: ['text/event-stream'],
        response: {
          200: {
            description: 'a text/event-stream of ready and changed events',
            content: { 'text/event-stream': { schema: Type.String() } },
          },
          503: ErrorBody,
        },
      },
    },
    async (_request, reply) => {
      if (hints.size >= MAX_DASHBOARD_STREAMS)
        throw new MarketError(
          'unavailable',
          `this node already serves ${MAX_DASHBOARD_STREAMS} dashboard streams; poll GET /dashboard/state`,
        );
      const stream = new PassThrough();
      hints.add(stream);
      reply.raw.once('close', () => {
        hints.remove(stream);
        stream.end();
      });
      return sendEventStream(reply, stream);
    },
  );
}
