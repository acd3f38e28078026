// Server-sent events: how a route answers with a stream it writes events to (task events, the
// dashboard's hints). No caching and no proxy buffering, so each event reaches the client at once.

import type { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';

export function sendEventStream(reply: FastifyReply, stream: Readable): FastifyReply {
  return reply
    .header('content-type', 'text/event-stream; charset=utf-8')
    .header('cache-control', 'no-cache')
    .header('x-accel-buffering', 'no')
    .send(stream);
}
