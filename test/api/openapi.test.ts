// The OpenAPI document is complete: every operation documents a success and every status the
// gate and Fastify can answer it with, public endpoints need no key, shapes are named components
// that routes point to, and the streamed blob bodies are described.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { compileAllSchemas } from '../../src/api/lazy-schemas.js';
import { startTestMarket, type TestMarket } from '../helpers/market.js';

type Json = Record<string, unknown>;
interface Operation {
  security?: unknown[];
  responses: Record<string, { content?: Record<string, { schema?: Json }> }>;
  requestBody?: { content: Record<string, unknown> };
}

let tm: TestMarket;
let doc: { security: unknown[]; paths: Record<string, Record<string, Operation>>; components: Json };
beforeAll(async () => {
  tm = await startTestMarket({ background: false });
  const res = await fetch(`${tm.url}/openapi.json`);
  expect(res.status).toBe(200);
  doc = (await res.json()) as typeof doc;
});
afterAll(async () => {
  await tm?.close();
});

function operations(): [string, Operation][] {
  return Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]): [string, Operation] => [`${method.toUpperCase()} ${path}`, op]),
  );
}

it('documents a success and the gate’s answers on every operation', () => {
  for (const [name, op] of operations()) {
    const statuses = Object.keys(op.responses);
    expect(
      statuses.some((s) => s.startsWith('2')),
      `${name} has no 2xx`,
    ).toBe(true);
    expect(statuses, name).toContain('503');
    const security = op.security ?? doc.security;
    if (security.length > 0 && !name.startsWith('GET /providers/{address}'))
      expect(statuses, name).toEqual(expect.arrayContaining(['401', '429']));
  }
  const create = doc.paths['/tasks']?.post as Operation;
  expect(Object.keys(create.responses)).toEqual(
    expect.arrayContaining(['201', '400', '401', '402', '409', '413', '415', '429', '503']),
  );
  // GET /params and POST /rpc say what they answer.
  expect(doc.paths['/params']?.get?.responses['200']?.content?.['application/json']?.schema).toBeTruthy();
  expect(doc.paths['/params']?.put?.responses['200']).toBeTruthy();
  expect(doc.paths['/rpc']?.post?.responses['200']).toBeTruthy();
});

it('needs no key on the public endpoints', () => {
  for (const path of ['/healthz', '/readyz', '/metrics'])
    expect(doc.paths[path]?.get?.security, path).toEqual([]);
  expect(doc.paths['/providers/{address}']?.get?.security).toEqual([
    { apiKey: [] },
    { providerSignature: [] },
  ]);
  expect(doc.paths['/tasks/{task_id}']?.get?.security).toBeUndefined();
  expect(doc.security).toEqual([{ apiKey: [] }]);
});

it('names its shapes as components, and every $ref resolves', () => {
  const schemas = doc.components.schemas as Json;
  expect(Object.keys(schemas)).toEqual(
    expect.arrayContaining(['Task', 'Job', 'Error', 'Offer', 'Provider', 'Account', 'TaskResultEvent']),
  );
  expect(Object.keys(schemas).filter((n) => n.startsWith('def-'))).toEqual([]);
  const task = doc.paths['/tasks/{task_id}']?.get?.responses['200']?.content?.['application/json']?.schema;
  expect(task).toEqual({ $ref: '#/components/schemas/Task' });
  const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
  expect(refs.length).toBeGreaterThan(50);
  for (const ref of new Set(refs)) {
    const name = /#\/components\/schemas\/([^"]+)"/.exec(ref)?.[1];
    expect(name && name in schemas, ref).toBe(true);
  }
});

it('describes the raw bytes of blob uploads and downloads and the event stream', () => {
  expect(doc.paths['/blobs']?.post?.requestBody?.content).toHaveProperty('application/octet-stream');
  expect(doc.paths['/blobs/{hash}']?.get?.responses['200']?.content).toHaveProperty(
    'application/octet-stream',
  );
  expect(doc.paths['/tasks/{task_id}/events']?.get?.responses['200']?.content).toHaveProperty(
    'text/event-stream',
  );
});

it('compiles every route schema (the node compiles each on its first use)', () => {
  // Only /openapi.json has been asked for: the schemas of every other route are pending.
  expect(compileAllSchemas(tm.app)).toBeGreaterThan(60);
  expect(compileAllSchemas(tm.app)).toBe(0);
});
