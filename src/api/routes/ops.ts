// Operations: liveness, readiness, Prometheus metrics.

import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { Market } from '../../market/market.js';
import type { ApiMetrics } from '../metrics.js';

const Health = Type.Object({ status: Type.String() });

export function opsRoutes(app: FastifyInstance, market: Market, metrics: ApiMetrics): void {
  app.get(
    '/healthz',
    { schema: { summary: 'The process is up', tags: ['operations'], response: { 200: Health } } },
    async () => ({
      status: 'ok',
    }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        summary: 'The node can serve: its database answers',
        tags: ['operations'],
        response: { 200: Health, 503: Health },
      },
    },
    async (_request, reply) => {
      try {
        await market.db.query('SELECT 1');
        return { status: 'ready' };
      } catch {
        return reply.status(503).send({ status: 'database unavailable' });
      }
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics',
        tags: ['operations'],
        response: {
          200: {
            description: 'the Prometheus text format',
            content: { 'text/plain': { schema: { type: 'string' } } },
          },
        },
      },
    },
    async (_request, reply) => {
      const body = await metrics.registry.metrics();
      return reply.type(metrics.registry.contentType).send(body);
    },
  );
}
