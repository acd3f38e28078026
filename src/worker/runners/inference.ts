// The `inference` runner. One `whole` slice; the output is the completion text and the proof is
// BLAKE3 of its UTF-8 bytes. A job's model decides where it runs:
//
//   a GGUF model of [runners.inference.gguf]   the embedded llama.cpp (runners/llama.ts)
//   a model of runners.inference.models        an OpenAI-compatible server (vLLM, Ollama, TGI):
//       endpoint "completions": POST {url}/v1/completions {model, prompt, max_tokens, temperature, seed}
//                                → choices[0].text
//       endpoint "chat":        POST {url}/v1/chat/completions {model, messages: [{role: "user",
//                                content: prompt}], max_tokens, temperature, seed}
//                                → choices[0].message.content
//
// The sampling seed comes from the payload itself (jobSeed), so every worker that replicates a
// job samples the same way. Only sampled-free runs (temperature 0) are cached.

import { blake3 } from '@noble/hashes/blake3.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { sliceCacheKey, type SliceCache } from '../cache.js';
import type { LlamaEngine } from './llama.js';
import { runSlices } from './slices.js';
import { JobFailure, type Runner } from './types.js';

export interface InferenceRunnerOptions {
  /** Base URL of an OpenAI-compatible server, without /v1. */
  url?: string | undefined;
  /** Model ids the server serves. */
  models?: readonly string[];
  endpoint?: 'completions' | 'chat';
  timeoutMs: number;
  apiKey?: string | undefined;
  /** GGUF models run in the worker itself; a job for a model neither serves is `unsupported`. */
  llama?: LlamaEngine | null;
  cache: SliceCache | null;
}

/** The protocol's limit on output text (JobResult.output.text maxLength). */
const MAX_TEXT_CHARS = 4_000_000;
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

interface Request {
  model: string;
  prompt: string;
  maxTokens: number;
  temperature: number;
  seed: number;
}

/**
 * The sampling seed of a job: the first 31 bits of BLAKE3 over what it asks for, so a replica
 * samples exactly as the original did (and a server that takes `seed` as a signed int accepts it).
 */
export function jobSeed(req: Omit<Request, 'seed'>): number {
  const digest = blake3(utf8ToBytes(JSON.stringify([req.model, req.prompt, req.maxTokens, req.temperature])));
  return ((digest[0]! << 24) | (digest[1]! << 16) | (digest[2]! << 8) | digest[3]!) >>> 1;
}

export function inferenceRunner(opts: InferenceRunnerOptions): Runner {
  const path = opts.endpoint === 'chat' ? 'chat/completions' : 'completions';
  const endpoint = `${opts.url?.replace(/\/+$/, '')}/v1/${path}`;
  const served = new Set(opts.url ? (opts.models ?? []) : []);
  return async (job, ctx) => {
    const { model_id, prompt, max_tokens, temperature } = job.payload;
    if (typeof model_id !== 'string' || typeof prompt !== 'string' || typeof max_tokens !== 'number')
      throw new JobFailure('invalid_payload', 'an inference payload needs model_id, prompt and max_tokens');
    if (temperature !== undefined && typeof temperature !== 'number')
      throw new JobFailure('invalid_payload', 'temperature must be a number');
    const local = opts.llama?.has(model_id) ? opts.llama : null;
    if (!local && !served.has(model_id))
      throw new JobFailure('unsupported', `model ${model_id} is not served by this worker`);
    const t = temperature ?? 0;
    const request = { model: model_id, prompt, maxTokens: max_tokens, temperature: t };
    const req: Request = { ...request, seed: jobSeed(request) };
    let text = '';
    const outcomes = await runSlices(job.slices, 1, ctx, async (slice) => {
      if (slice.kind !== 'whole')
        throw new JobFailure('invalid_payload', `an inference job has one whole slice, not ${slice.kind}`);
      const compute = async () => {
        const completion = local
          ? await completeLocally(local, req, opts.timeoutMs, ctx.signal)
          : await complete(endpoint, req, { ...opts, temperature, signal: ctx.signal });
        if (completion.length > MAX_TEXT_CHARS)
          throw new JobFailure('runner_error', `completion is longer than ${MAX_TEXT_CHARS} characters`);
        return { proof: bytesToHex(blake3(utf8ToBytes(completion))), output: { text: completion } };
      };
      // A payload without a temperature is greedy here, but a server applies its own default.
      const greedy = local ? t === 0 : temperature === 0;
      const cached =
        opts.cache && greedy
          ? await opts.cache.through(sliceCacheKey(job.challenge_type, job.payload, slice, null), compute)
          : await compute();
      text = cached.output?.text ?? '';
      return cached;
    });
    return { proofs: outcomes.map((o) => o.proof), output: { text } };
  };
}

async function completeLocally(
  engine: LlamaEngine,
  req: Request,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<string> {
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    return await engine.complete(req.model, { ...req, signal: AbortSignal.any([signal, timeout]) });
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    if (timeout.aborted) throw new JobFailure('timeout', `inference timed out after ${timeoutMs} ms`);
    throw err;
  }
}

async function complete(
  endpoint: string,
  req: Request,
  opts: InferenceRunnerOptions & { temperature: number | undefined; signal: AbortSignal },
): Promise<string> {
  const chat = opts.endpoint === 'chat';
  const body = {
    model: req.model,
    ...(chat ? { messages: [{ role: 'user', content: req.prompt }] } : { prompt: req.prompt }),
    max_tokens: req.maxTokens,
    // As the customer gave it: a server's own default applies when the payload has none.
    temperature: opts.temperature,
    seed: req.seed,
  };
  const { signal } = opts;
  const timeout = AbortSignal.timeout(opts.timeoutMs);
  let res: Response;
  try {
    res = await fetch(endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {}),
      },
      body: JSON.stringify(body),
      signal: AbortSignal.any([signal, timeout]),
    });
  } catch (err) {
    throw requestFailure(err, signal, timeout, opts.timeoutMs);
  }
  let raw: string;
  try {
    raw = await readLimited(res, MAX_RESPONSE_BYTES);
  } catch (err) {
    throw requestFailure(err, signal, timeout, opts.timeoutMs);
  }
  if (!res.ok)
    throw new JobFailure('runner_error', `inference server answered ${res.status}: ${raw.slice(0, 500)}`);
  let text: unknown;
  try {
    const choice = (JSON.parse(raw) as { choices?: { text?: unknown; message?: { content?: unknown } }[] })
      .choices?.[0];
    text = chat ? choice?.message?.content : choice?.text;
  } catch {
    throw new JobFailure('runner_error', 'inference server answered with invalid JSON');
  }
  if (typeof text !== 'string')
    throw new JobFailure(
      'runner_error',
      `inference server answer has no ${chat ? 'choices[0].message.content' : 'choices[0].text'}`,
    );
  return text;
}

function requestFailure(err: unknown, signal: AbortSignal, timeout: AbortSignal, timeoutMs: number): unknown {
  if (signal.aborted) return signal.reason;
  if (timeout.aborted) return new JobFailure('timeout', `inference request timed out after ${timeoutMs} ms`);
  if (err instanceof JobFailure) return err;
  const cause = (err as { cause?: { message?: string } }).cause?.message;
  return new JobFailure(
    'runner_error',
    `inference request failed: ${(err as Error).message}${cause ? ` (${cause})` : ''}`,
  );
}

async function readLimited(res: Response, maxBytes: number): Promise<string> {
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    total += chunk.length;
    if (total > maxBytes)
      throw new JobFailure('runner_error', `inference answer is larger than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
