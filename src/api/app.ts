// The HTTP application of a market node: routes, validation, errors, auth, metrics, OpenAPI.

import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { MarketError } from '../domain/errors.js';
import type { Market } from '../market/market.js';
import { clientErrorHandler, errorHandler, frameworkErrorHandler, sendError } from './errors.js';
import { attachGateway } from './gateway.js';
import { installGuard } from './guard.js';
import { transform, transformObject } from './openapi.js';
import { blobRoutes } from './routes/blobs.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { offerRoutes } from './routes/offers.js';
import { paramsRoutes } from './routes/params.js';
import { providerRoutes } from './routes/providers.js';
import { rpcRoutes } from './routes/rpc.js';
import { createMetrics } from './metrics.js';
import { accountRoutes } from './routes/accounts.js';
import { opsRoutes } from './routes/ops.js';
import { bidRoutes } from './routes/bids.js';
import { taskEventRoutes } from './routes/task-events.js';
import { taskRoutes } from './routes/tasks.js';
import { lazySchemaCompilers } from './lazy-schemas.js';

export async function buildApp(market: Market): Promise<FastifyInstance> {
  // Each route's schemas compile on its first request, not before the node can answer.
  const schemas = lazySchemaCompilers();
  const app = Fastify({
    schemaController: { compilersFactory: schemas.compilersFactory },
    loggerInstance: market.logger as FastifyBaseLogger,
    // Per-request lines would dominate the log at thousands of requests a second; /metrics counts them.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: market.config.body_limit_bytes,
    // Deep or huge JSON is refused by the body limit; prototype poisoning is refused outright.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // The guard answers 503 `unavailable` while closing, in the catalogue shape.
    return503OnClosing: false,
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler,
  });
  // JSON only: a text/plain body is 415, never parsed as something else.
  app.removeContentTypeParser(['text/plain']);
  schemas.attach(app);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, new MarketError('not_found', `no route ${request.method} ${request.url.split('?')[0]}`)),
  );

  const metrics = createMetrics(market);
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    metrics.latency.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });

  installGuard(app, market);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Task Market',
        version: '0.1.0',
        description:
          'Customers pay for GPU work; providers earn by doing it. Errors are {"error":{"code","message","details"}}.',
      },
      components: {
        securitySchemes: {
          apiKey: { type: 'http', scheme: 'bearer', description: 'a customer API key or the operator key' },
          providerSignature: {
            type: 'apiKey',
            in: 'header',
            name: 'taskmarket-provider-signature',
            description:
              'a provider signs "taskmarket provider view <address> <unix seconds>"; sent with taskmarket-provider-key and taskmarket-timestamp',
          },
        },
      },
      security: [{ apiKey: [] }],
    },
    transform,
    transformObject,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  taskRoutes(app, market);
  taskEventRoutes(app, market);
  accountRoutes(app, market);
  opsRoutes(app, market, metrics);
  blobRoutes(app, market, metrics);
  offerRoutes(app, market);
  paramsRoutes(app, market);
  providerRoutes(app, market);
  rpcRoutes(app, market);
  dashboardRoutes(app, market);
  bidRoutes(app, market);
  attachGateway(app, market, market.dispatcher);
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
