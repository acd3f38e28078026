// The `inference` runner: a client of an OpenAI-compatible completions server the provider runs
// (vLLM, llama.cpp server, TGI, …). One `whole` slice; the output is the completion text and the
// proof is BLAKE3 of its UTF-8 bytes.
//
//   POST {url}/v1/completions {model, prompt, max_tokens, temperature?}  →  choices[0].text
//
// Only sampled-free runs (temperature 0) are cached: with sampling, a repeat is meant to differ.

import { blake3 } from '@noble/hashes/blake3.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { sliceCacheKey, type SliceCache } from '../cache.js';
import { runSlices } from './slices.js';
import { JobFailure, type Runner } from './types.js';

export interface InferenceRunnerOptions {
  /** Base URL of the server, without /v1. */
  url: string;
  /** Model ids served; a job for any other model is `unsupported`. */
  models: readonly string[];
  timeoutMs: number;
  apiKey?: string | undefined;
  cache: SliceCache | null;
}

/** The protocol's limit on output text (JobResult.output.text maxLength). */
const MAX_TEXT_CHARS = 4_000_000;
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

export function inferenceRunner(opts: InferenceRunnerOptions): Runner {
  const endpoint = `${opts.url.replace(/\/+$/, '')}/v1/completions`;
  return async (job, ctx) => {
    const { model_id, prompt, max_tokens, temperature } = job.payload;
    if (typeof model_id !== 'string' || typeof prompt !== 'string' || typeof max_tokens !== 'number')
      throw new JobFailure('invalid_payload', 'an inference payload needs model_id, prompt and max_tokens');
    if (!opts.models.includes(model_id))
      throw new JobFailure('unsupported', `model ${model_id} is not served by this worker`);
    const body = { model: model_id, prompt, max_tokens, temperature };
    let text = '';
    const outcomes = await runSlices(job.slices, 1, ctx, async (slice) => {
      if (slice.kind !== 'whole')
        throw new JobFailure('invalid_payload', `an inference job has one whole slice, not ${slice.kind}`);
      const compute = async () => {
        const completion = await complete(endpoint, body, opts, ctx.signal);
        return { proof: bytesToHex(blake3(utf8ToBytes(completion))), output: { text: completion } };
      };
      const cached =
        opts.cache && temperature === 0
          ? await opts.cache.through(sliceCacheKey(job.challenge_type, job.payload, slice, null), compute)
          : await compute();
      text = cached.output?.text ?? '';
      return cached;
    });
    return { proofs: outcomes.map((o) => o.proof), output: { text } };
  };
}

async function complete(
  endpoint: string,
  body: Record<string, unknown>,
  opts: InferenceRunnerOptions,
  signal: AbortSignal,
): Promise<string> {
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
    text = (JSON.parse(raw) as { choices?: { text?: unknown }[] }).choices?.[0]?.text;
  } catch {
    throw new JobFailure('runner_error', 'inference server answered with invalid JSON');
  }
  if (typeof text !== 'string')
    throw new JobFailure('runner_error', 'inference server answer has no choices[0].text');
  if (text.length > MAX_TEXT_CHARS)
    throw new JobFailure('runner_error', `completion is longer than ${MAX_TEXT_CHARS} characters`);
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
