// The dashboard page: GET /dashboard and its script and stylesheet, static files from
// src/api/dashboard/ (copied to dist/ by the build), read once when the routes are registered. The
// page reads GET /dashboard/state (./dashboard-state.ts) whenever GET /dashboard/events
// (./dashboard-events.ts) says the market changed; the content security policy lets it load and
// call nothing but this node, and run no inline script.

import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { Market } from '../../market/market.js';
import { dashboardEventRoutes } from './dashboard-events.js';
import { dashboardStateRoutes } from './dashboard-state.js';

const ASSETS = new URL('../dashboard/', import.meta.url);

const FILES = [
  { path: '/dashboard', file: 'index.html', type: 'text/html; charset=utf-8' },
  { path: '/dashboard/dashboard.js', file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  { path: '/dashboard/dashboard.css', file: 'dashboard.css', type: 'text/css; charset=utf-8' },
] as const;

const HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  // Small files that change with the node's version: revalidate rather than run a stale script.
  'cache-control': 'no-cache',
};

export function dashboardRoutes(app: FastifyInstance, market: Market): void {
  for (const { path, file, type } of FILES) {
    const body = readFileSync(new URL(file, ASSETS));
    app.get(
      path,
      {
        schema: {
          hide: path !== '/dashboard',
          summary: 'The dashboard page (HTML): lanes, providers, prices, tasks, settlement, courier',
          tags: ['dashboard'],
          security: [],
        },
      },
      async (_request, reply) => reply.headers(HEADERS).type(type).send(body),
    );
  }
  dashboardStateRoutes(app, market);
  dashboardEventRoutes(app, market);
}
