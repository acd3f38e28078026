// Operations endpoints: health, readiness, metrics, the OpenAPI document and the docs page.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { EXAMPLE_PAYLOADS, startTestMarket, type TestMarket } from '../helpers/market.js';

let tm: TestMarket;
beforeAll(async () => {
  tm = await startTestMarket();
});
afterAll(async () => {
  await tm?.close();
});

it('answers health and readiness without a key', async () => {
  expect(await (await fetch(`${tm.url}/healthz`)).json()).toEqual({ status: 'ok' });
  expect(await (await fetch(`${tm.url}/readyz`)).json()).toEqual({ status: 'ready' });
});

it('exports request counts, latency and task counts by status', async () => {
  const { client } = await tm.customer('5.0');
  await client.createTask({
    challenge_type: 'synthetic',
    payload: { ...EXAMPLE_PAYLOADS.synthetic },
    reward: '1.0',
  });
  const text = await (await fetch(`${tm.url}/metrics`)).text();
  expect(text).toMatch(/http_requests_total\{method="POST",route="\/tasks",status="201"\} 1/);
  expect(text).toContain('http_request_duration_seconds_bucket');
  expect(text).toMatch(/tasks\{status="pending"\} 1/);
  expect(text).toMatch(/tasks_created_total\{challenge_type="synthetic"\} 1/);
});

it('serves an OpenAPI document generated from the validating schemas, and a docs page', async () => {
  const doc = (await (await fetch(`${tm.url}/openapi.json`)).json()) as {
    openapi: string;
    paths: Record<
      string,
      Record<string, { requestBody?: { content: Record<string, { schema: { oneOf?: unknown[] } }> } }>
    >;
  };
  expect(doc.openapi).toMatch(/^3\./);
  expect(Object.keys(doc.paths)).toEqual(
    expect.arrayContaining(['/tasks', '/tasks/{task_id}', '/tasks/{task_id}/cancel', '/accounts/me']),
  );
  expect(doc.paths['/tasks']?.post?.requestBody?.content['application/json']?.schema.oneOf).toHaveLength(6);
  const page = await fetch(`${tm.url}/docs/`);
  expect(page.status).toBe(200);
  expect(await page.text()).toContain('<html');
});

it('answers unknown routes with the error shape', async () => {
  const res = await fetch(`${tm.url}/nope`);
  expect(res.status).toBe(404);
  expect(await res.json()).toMatchObject({ error: { code: 'not_found' } });
});
