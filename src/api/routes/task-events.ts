// GET /tasks/{task_id}/events: a task's life as server-sent events (text/event-stream). The
// events are those of src/domain/schemas/task-events.ts; the stream ends after `result`. A
// comment line every KEEPALIVE_MS keeps proxies from closing a quiet stream. Whoever loses the
// stream reconnects: the first event is always the task's status now, so nothing is missed
// but the per-slice progress in between.

import { PassThrough } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { ErrorBody } from '../../domain/schemas/common.js';
import { TaskIdParams } from '../../domain/schemas/tasks.js';
import type { TaskEvent } from '../../domain/schemas/task-events.js';
import type { Market } from '../../market/market.js';
import { principalOf } from '../guard.js';
import { sendEventStream } from '../event-stream.js';

const KEEPALIVE_MS = 15_000;

export function taskEventRoutes(app: FastifyInstance, market: Market): void {
  // Open streams end (after their last event) before the server waits for its connections.
  app.addHook('preClose', async () => market.followers.close());

  app.get<{ Params: { task_id: string } }>(
    '/tasks/:task_id/events',
    {
      config: { access: 'any' },
      schema: {
        summary:
          'Follow a task live: server-sent events (status, job, progress, result), ending after result',
        description:
          'Each message is `event: <type>` and `data: <JSON>`: status (the task, as GET /tasks/{task_id}), job (a job leased, completed or failed), progress (slices done of a job), result (the ended task and its jobs with their outputs; the last event).',
        tags: ['tasks'],
        params: TaskIdParams,
        produces: ['text/event-stream'],
        response: {
          200: {
            description: 'a text/event-stream of status, job, progress and result events',
            content: { 'text/event-stream': { schema: Type.String() } },
          },
          400: ErrorBody,
          401: ErrorBody,
          404: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      // 404 for a task the caller may not see, before the stream opens.
      await market.tasks.get(principalOf(request), request.params.task_id);
      const stream = new PassThrough();
      let seq = 0;
      const send = (e: TaskEvent) => {
        stream.write(`id: ${++seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`);
      };
      const follow = await market.followers.follow(request.params.task_id, send);
      const keepalive = setInterval(() => stream.write(': keep-alive\n\n'), KEEPALIVE_MS);
      keepalive.unref();
      const stop = () => {
        clearInterval(keepalive);
        follow.close();
      };
      // The response's close: the stream ended, or the follower went away mid-stream.
      reply.raw.once('close', stop);
      void follow.ended.then(() => {
        clearInterval(keepalive);
        stream.end();
      });
      return sendEventStream(reply, stream);
    },
  );
}
