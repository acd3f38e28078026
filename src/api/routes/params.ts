// Scheduler and admission parameters: anyone with a key reads them; the operator retunes them
// at runtime (validated, persisted, audited) and the next decisions use them.

import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { ErrorBody } from '../../domain/schemas/common.js';
import { SchedulerParamsSchema } from '../../domain/scheduler-params.js';
import type { Market } from '../../market/market.js';

export function paramsRoutes(app: FastifyInstance, market: Market): void {
  app.get(
    '/params',
    {
      config: { access: 'any' },
      schema: {
        summary: 'Current scheduler and admission parameters',
        tags: ['scheduler'],
        response: { 200: SchedulerParamsSchema },
      },
    },
    async () => market.params.get(),
  );

  app.put<{ Body: Record<string, unknown> }>(
    '/params',
    {
      config: { access: 'operator' },
      schema: {
        summary: 'Change parameters (operator): a partial object, validated against the same bounds',
        tags: ['scheduler'],
        body: Type.Record(Type.String(), Type.Unknown()),
        response: { 200: SchedulerParamsSchema, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody },
      },
    },
    async (request) => {
      return market.params.update(request.body, 'operator', market.clock.nowMs());
    },
  );
}
