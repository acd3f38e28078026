// The gate and the error shapes: callers are authenticated before any body is read, uploads are
// capped per account, /rpc knows no inherited names, and every refusal (Fastify's and the HTTP
// parser's included) is {"error":{code,message}} with a catalogue code.

import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ERRORS } from '../../src/domain/errors.js';
import { MIB } from '../../src/domain/work.js';
import { OPERATOR_KEY, startTestMarket, type TestMarket } from '../helpers/market.js';
import { closedAfter, rawRequest } from '../helpers/raw-http.js';

/** Uploads one account may have in flight here (the default is 4). */
const UPLOADS_PER_ACCOUNT = 3;

let tm: TestMarket;
let key: string;
beforeAll(async () => {
  tm = await startTestMarket({
    config: { blob_max_bytes: 4 * MIB, blob_uploads_per_account: UPLOADS_PER_ACCOUNT },
    background: false,
  });
  ({ apiKey: key } = await tm.customer('10.0'));
});
afterAll(async () => {
  await tm?.close();
});

function expectCatalogue(body: unknown, code: string): void {
  expect(body).toMatchObject({ error: { code, message: expect.any(String) } });
  expect(Object.hasOwn(ERRORS, code)).toBe(true);
}

function head(lines: string[]): string {
  const { host } = new URL(tm.url);
  return [...lines, `Host: ${host}`, '', ''].join('\r\n');
}

it('answers an upload without a valid key 401 before reading its body, and closes the connection', async () => {
  for (const auth of [[], ['Authorization: Bearer tm_not_a_real_key_at_all']]) {
    // 60 MiB announced, 64 KiB sent: the answer cannot have waited for the body.
    const { socket, answer } = rawRequest(
      tm.url,
      head([
        'POST /blobs HTTP/1.1',
        ...auth,
        'Content-Type: application/octet-stream',
        `Content-Length: ${60 * MIB}`,
      ]),
      Buffer.alloc(64 * 1024, 7),
    );
    const res = await answer;
    expect(res.status).toBe(401);
    expectCatalogue(JSON.parse(res.body), 'unauthorized');
    expect(res.headers.connection).toBe('close');
    expect(await closedAfter(socket)).toBe(true);
  }
});

it('authenticates before it validates: a bad body without a key is 401, with a customer key 403', async () => {
  const post = (authorization?: string) =>
    fetch(`${tm.url}/accounts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      body: JSON.stringify({ name: '' }),
    });
  expect((await post()).status).toBe(401);
  expect((await post('Bearer tm_made_up_key_0000')).status).toBe(401);
  expect((await post(`Bearer ${key}`)).status).toBe(403);
  expect((await post(`Bearer ${OPERATOR_KEY}`)).status).toBe(400);
});

it('refuses an announced blob over blob_max_bytes with 413 before reading it', async () => {
  const { socket, answer } = rawRequest(
    tm.url,
    head([
      'POST /blobs HTTP/1.1',
      `Authorization: Bearer ${key}`,
      'Content-Type: application/octet-stream',
      `Content-Length: ${5 * MIB}`,
    ]),
  );
  const res = await answer;
  expect(res.status).toBe(413);
  expectCatalogue(JSON.parse(res.body), 'payload_too_large');
  expect(await closedAfter(socket)).toBe(true);
});

it('refuses a chunked blob the moment it passes blob_max_bytes', async () => {
  const { socket, answer } = rawRequest(
    tm.url,
    head([
      'POST /blobs HTTP/1.1',
      `Authorization: Bearer ${key}`,
      'Content-Type: application/octet-stream',
      'Transfer-Encoding: chunked',
    ]),
  );
  // 5 MiB in 1 MiB chunks, never terminated: the answer comes once the fifth is in.
  for (let i = 0; i < 5; i++) socket.write(`${MIB.toString(16)}\r\n${'x'.repeat(MIB)}\r\n`);
  const res = await answer;
  expect(res.status).toBe(413);
  expect(await closedAfter(socket)).toBe(true);
});

it(`lets an account have ${UPLOADS_PER_ACCOUNT} uploads in flight, and answers the next 429`, async () => {
  const { apiKey } = await tm.customer('1.0');
  const stalled = Array.from({ length: UPLOADS_PER_ACCOUNT }, () =>
    rawRequest(
      tm.url,
      head([
        'POST /blobs HTTP/1.1',
        `Authorization: Bearer ${apiKey}`,
        'Content-Type: application/octet-stream',
        'Content-Length: 1000',
      ]),
      Buffer.alloc(10, 1),
    ),
  );
  const upload = () =>
    fetch(`${tm.url}/blobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/octet-stream' },
      body: Buffer.from('small'),
    });
  // The stalled uploads reach the handler in their own time: wait until all are being read.
  const inFlight = new RegExp(`^blob_uploads_in_flight ${UPLOADS_PER_ACCOUNT}$`, 'm');
  while (!inFlight.test(await (await fetch(`${tm.url}/metrics`)).text()));
  const res = await upload();
  expect(res.status).toBe(429);
  expectCatalogue(await res.json(), 'rate_limited');
  expect(res.headers.get('retry-after')).toBe('1');
  // Another account is not held up by this one.
  const other = await fetch(`${tm.url}/blobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/octet-stream' },
    body: Buffer.from('other'),
  });
  expect(other.status).toBe(201);
  // One stalled upload finishes: a slot is free again.
  const [first, ...rest] = stalled;
  first?.socket.write(Buffer.alloc(990, 1));
  expect((await first?.answer)?.status).toBe(201);
  expect((await upload()).status).toBe(201);
  for (const r of rest) r.socket.destroy();
});

it('answers 415 to an encoded body instead of reading it as plain', async () => {
  const res = await fetch(`${tm.url}/tasks`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${key}`,
      'content-type': 'application/json',
      'content-encoding': 'gzip',
    },
    body: JSON.stringify({ challenge_type: 'synthetic' }),
  });
  expect(res.status).toBe(415);
  expectCatalogue(await res.json(), 'unsupported_media_type');
});

it('knows no inherited name as an RPC method: every Object.prototype name is method_not_found', async () => {
  const names = [...Object.getOwnPropertyNames(Object.prototype), 'prototype', 'METHODS'];
  for (const method of names) {
    const bare = await fetch(`${tm.url}/rpc`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ method }),
    });
    expect(bare.status, method).toBe(404);
    expectCatalogue(await bare.json(), 'method_not_found');
    const rpc = await fetch(`${tm.url}/rpc`, {
      method: 'POST',
      headers: { authorization: `Bearer ${OPERATOR_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 7, method }),
    });
    expect(rpc.status, method).toBe(200);
    expect(await rpc.json(), method).toMatchObject({
      jsonrpc: '2.0',
      id: 7,
      error: { code: -32601, data: { code: 'method_not_found' } },
    });
  }
});

it("answers Fastify's own refusals in the catalogue shape", async () => {
  const auth = { authorization: `Bearer ${key}` };
  const cases: [string, RequestInit, number, string][] = [
    ['/tasks/%zz', { headers: auth }, 400, 'bad_request'],
    [`/tasks/${'a'.repeat(300)}`, { headers: auth }, 414, 'uri_too_long'],
    ['/no/such/route', {}, 404, 'not_found'],
    [
      '/tasks',
      { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"a":' },
      400,
      'invalid_json',
    ],
    [
      '/tasks',
      { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '' },
      400,
      'invalid_json',
    ],
    [
      '/tasks',
      { method: 'POST', headers: { ...auth, 'content-type': 'text/plain' }, body: 'hello' },
      415,
      'unsupported_media_type',
    ],
    [
      '/tasks',
      {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ pad: 'x'.repeat(2 * MIB) }),
      },
      413,
      'payload_too_large',
    ],
  ];
  for (const [path, init, status, code] of cases) {
    const res = await fetch(`${tm.url}${path}`, init);
    expect(res.status, path).toBe(status);
    expectCatalogue(await res.json(), code);
  }
});

it("answers the HTTP parser's refusals in the catalogue shape", async () => {
  const bad = await rawRequest(tm.url, 'GET /healthz HTTP/1.1\r\nHo st: x\r\n\r\n').answer;
  expect(bad.status).toBe(400);
  expectCatalogue(JSON.parse(bad.body), 'bad_request');
  const garbage = await rawRequest(tm.url, '\x00\x01\x02 nonsense\r\n\r\n').answer;
  expect(garbage.status).toBe(400);
  expectCatalogue(JSON.parse(garbage.body), 'bad_request');
  const huge = await rawRequest(tm.url, head(['GET /healthz HTTP/1.1', `X-Big: ${'y'.repeat(64 * 1024)}`]))
    .answer;
  expect(huge.status).toBe(431);
  expectCatalogue(JSON.parse(huge.body), 'headers_too_large');
});

it('documents every catalogue code with its status in the README', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const undocumented = Object.entries(ERRORS)
    .filter(([code, { status }]) => !new RegExp(`\\| \`${code}\`[^|]* \\| ${status} `).test(readme))
    .map(([code]) => code);
  expect(undocumented).toEqual([]);
});
