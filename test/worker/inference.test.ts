// The inference runner against a small local server that speaks /v1/completions and
// /v1/chat/completions: the request
// it sends, the text and proof it returns, and how it fails (unknown model, server error,
// timeout, cancel).

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { blake3 } from '@noble/hashes/blake3.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SliceCache } from '../../src/worker/cache.js';
import { inferenceRunner, jobSeed } from '../../src/worker/runners/inference.js';
import { job, run } from './fixtures.js';

let server: Server;
let base = '';
const requests: { path: string; auth?: string; body: Record<string, unknown> }[] = [];
/** Requests the server holds without answering, released at the end. */
const held: ServerResponse[] = [];

async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>;
}

beforeAll(async () => {
  server = createServer((req, res) => {
    void body(req).then((b) => {
      requests.push({
        path: req.url ?? '',
        body: b,
        ...(req.headers.authorization ? { auth: req.headers.authorization } : {}),
      });
      if (req.url === '/v1/chat/completions') {
        const content = (b.messages as { content: string }[])[0]?.content;
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(
          JSON.stringify({
            choices: [{ index: 0, message: { role: 'assistant', content: ` chat: ${content}` } }],
          }),
        );
      }
      const prompt = String(b.prompt);
      if (prompt === 'hang') return held.push(res);
      if (prompt === 'explode') return res.writeHead(500).end('model crashed');
      if (prompt === 'garbage') return res.writeHead(200).end('{"choices":[]}');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: 'cmpl-1',
          object: 'text_completion',
          choices: [{ index: 0, text: ` echo: ${prompt} ✓` }],
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const res of held) res.destroy();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const payload = (prompt: string, extra: Record<string, unknown> = {}) => ({
  model_id: 'llama-3-8b',
  prompt,
  max_tokens: 64,
  ...extra,
});
const whole = [{ index: 0, units: 1, kind: 'whole' as const }];

describe('inference runner', () => {
  it('posts the completion request and proves the text with BLAKE3', async () => {
    const runner = inferenceRunner({
      url: `${base}/`,
      models: ['llama-3-8b'],
      timeoutMs: 5000,
      apiKey: 'sk-local',
      cache: null,
    });
    const result = await run(runner, job('inference', payload('Hello, world!', { temperature: 0.7 }), whole));
    const text = ' echo: Hello, world! ✓';
    expect(result.output).toEqual({ text });
    expect(result.proofs).toEqual([bytesToHex(blake3(utf8ToBytes(text)))]);
    expect(requests.at(-1)).toEqual({
      path: '/v1/completions',
      auth: 'Bearer sk-local',
      body: {
        model: 'llama-3-8b',
        prompt: 'Hello, world!',
        max_tokens: 64,
        temperature: 0.7,
        seed: jobSeed({ model: 'llama-3-8b', prompt: 'Hello, world!', maxTokens: 64, temperature: 0.7 }),
      },
    });
  });

  it('speaks the chat endpoint too: one user message, the answer in choices[0].message.content', async () => {
    const runner = inferenceRunner({
      url: base,
      models: ['llama-3-8b'],
      endpoint: 'chat',
      timeoutMs: 5000,
      cache: null,
    });
    const result = await run(runner, job('inference', payload('Hi there', { temperature: 0 }), whole));
    expect(result.output).toEqual({ text: ' chat: Hi there' });
    expect(requests.at(-1)).toMatchObject({
      path: '/v1/chat/completions',
      body: { model: 'llama-3-8b', messages: [{ role: 'user', content: 'Hi there' }], temperature: 0 },
    });
  });

  it('refuses a model it does not serve as unsupported, before any request', async () => {
    const runner = inferenceRunner({ url: base, models: ['llama-3-8b'], timeoutMs: 5000, cache: null });
    const before = requests.length;
    await expect(
      run(runner, job('inference', { ...payload('x'), model_id: 'gpt-3.5-turbo' }, whole)),
    ).rejects.toMatchObject({
      reason: 'unsupported',
    });
    expect(requests.length).toBe(before);
  });

  it('caches only runs without sampling (temperature 0)', async () => {
    const cache = new SliceCache(1 << 20);
    const runner = inferenceRunner({ url: base, models: ['llama-3-8b'], timeoutMs: 5000, cache });
    const before = requests.length;
    await run(runner, job('inference', payload('same', { temperature: 0 }), whole));
    await run(runner, job('inference', payload('same', { temperature: 0 }), whole));
    await run(runner, job('inference', payload('same'), whole));
    expect(requests.length - before).toBe(2);
    expect(cache.hits).toBe(1);
  });

  it('fails on a server error, a malformed answer, a timeout and a cancel', async () => {
    const runner = inferenceRunner({ url: base, models: ['llama-3-8b'], timeoutMs: 300, cache: null });
    await expect(run(runner, job('inference', payload('explode'), whole))).rejects.toMatchObject({
      reason: 'runner_error',
      message: expect.stringContaining('500: model crashed'),
    });
    await expect(run(runner, job('inference', payload('garbage'), whole))).rejects.toMatchObject({
      reason: 'runner_error',
    });
    await expect(run(runner, job('inference', payload('hang'), whole))).rejects.toMatchObject({
      reason: 'timeout',
    });
    const slow = inferenceRunner({ url: base, models: ['llama-3-8b'], timeoutMs: 60_000, cache: null });
    const cancel = new AbortController();
    const pending = run(slow, job('inference', payload('hang'), whole), cancel.signal);
    await expect.poll(() => held.length).toBe(2);
    cancel.abort(new Error('cancelled by the market'));
    await expect(pending).rejects.toThrow('cancelled by the market');
  });

  it('fails when the server is down', async () => {
    const runner = inferenceRunner({
      url: 'http://127.0.0.1:1',
      models: ['llama-3-8b'],
      timeoutMs: 5000,
      cache: null,
    });
    await expect(run(runner, job('inference', payload('x'), whole))).rejects.toMatchObject({
      reason: 'runner_error',
      message: expect.stringContaining('inference request failed'),
    });
  });
});
