// The chain port over the CPC node's HTTP API (ComputeChain `blockchain/rpc/api.py`):
//   POST /tx/send       signed transaction JSON → {"tx_hash", "status": "received"|"rejected", "error"?}
//   GET  /block/{h}     the block, 404 when there is none
//   GET  /status        {"height", "last_hash", …}
//   GET  /balance/{a}   {"address", "balance" (decimal string), "nonce"}: the account nonce
//   GET  /nonce/{a}?pending=true  {"address", "nonce", "pending": true}: after the pooled run
// An account the node has never seen may be answered 404 on /balance and /nonce: nonce 0, balance
// 0 (a 404 {"detail": "Not Found"}, the framework's answer for a missing route, is an error).
// `/tx/{hash}/receipt` is not used: the node at b15c176 answers `pending` forever, even for
// transactions a block holds (shared/cpc-node/smoke-transcript.json).
// Every request has a timeout. What the courier may retry: network errors, timeouts, 408, 425,
// 429, 5xx, an unreadable 2xx body, and the node's own "try later" rejections (mempool_full,
// sender_limit_exceeded, queued_limit_exceeded). Answers that may mean the node already has the
// transaction (nonce_too_low, insufficient_balance: the smoke run got both for a landed one;
// and a 400, which the node can give after its pool took the transaction) are `mayBeIncluded`:
// the courier looks in the blocks. Other rejections (bad signature, fee too low …) are not
// retryable, since the same bytes cannot pass. A copy of a transaction the node still holds is
// refused `already_in_pool`: that is an idempotent success.

import { txHash, type SignedTx } from '../domain/chain-tx.js';
import { decodeBlock } from './block.js';
import { parseJsonExact } from './json.js';
import {
  ChainError,
  type ChainAccount,
  type ChainBlock,
  type ChainHead,
  type ChainPort,
  type SubmitOutcome,
} from './port.js';
import { encodeTx } from './wire.js';

export interface HttpChainOptions {
  /** The node's RPC root, e.g. http://localhost:8000. */
  baseUrl: string;
  /** Per request; default 10 s. */
  timeoutMs?: number;
  /** Injected for tests; defaults to the global fetch. */
  fetch?: typeof fetch;
}

const RETRYABLE_STATUS = new Set([408, 425, 429]);
const RETRYABLE_REJECTIONS = new Set(['mempool_full', 'sender_limit_exceeded', 'queued_limit_exceeded']);
const MAYBE_INCLUDED_REJECTIONS = /^(nonce_too_low|insufficient_balance)/;
const IDEMPOTENT_REJECTIONS = new Set(['already_in_pool']);

interface Reply {
  status: number;
  body: unknown;
  /** False when a body was expected but did not parse as JSON. */
  parsed: boolean;
}

export class HttpChainClient implements ChainPort {
  private readonly base: string;
  private readonly timeoutMs: number;
  private readonly fetchFn: typeof fetch;
  private readonly inFlight = new Set<AbortController>();
  private closed = false;

  constructor(opts: HttpChainOptions) {
    this.base = opts.baseUrl.replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.fetchFn = opts.fetch ?? fetch;
  }

  async submit(tx: SignedTx): Promise<SubmitOutcome> {
    const hash = txHash(tx);
    let reply: Reply;
    try {
      reply = await this.request('POST', '/tx/send', encodeTx(tx));
    } catch (err) {
      return { accepted: false, retryable: true, error: describe(err) };
    }
    if (reply.status === 400)
      return { accepted: false, retryable: false, mayBeIncluded: true, error: httpError(reply) };
    if (reply.status < 200 || reply.status > 299)
      return { accepted: false, retryable: isRetryableStatus(reply.status), error: httpError(reply) };
    // A 2xx that does not say what happened: sending again is safe (a copy is already_in_pool).
    const body = reply.body as { status?: unknown; error?: unknown } | null;
    if (!reply.parsed || typeof body !== 'object' || body === null)
      return { accepted: false, retryable: true, error: 'the node answered without a readable body' };
    if (body.status === 'received') return { accepted: true, txHash: hash };
    const reason = typeof body.error === 'string' ? body.error : 'rejected without a reason';
    if (IDEMPOTENT_REJECTIONS.has(reason)) return { accepted: true, txHash: hash, duplicate: true };
    if (MAYBE_INCLUDED_REJECTIONS.test(reason))
      return { accepted: false, retryable: false, mayBeIncluded: true, error: `rejected: ${reason}` };
    return { accepted: false, retryable: RETRYABLE_REJECTIONS.has(reason), error: `rejected: ${reason}` };
  }

  async getBlock(height: number): Promise<ChainBlock | undefined> {
    if (!Number.isSafeInteger(height) || height < 0) return undefined;
    const reply = await this.read(`/block/${height}`);
    if (reply.status === 404) return undefined;
    const decoded = decodeBlock(reply.body);
    if (!decoded.ok)
      throw new ChainError(`block ${height} from the node is unreadable: ${decoded.error}`, false);
    return decoded.block;
  }

  async head(): Promise<ChainHead> {
    const reply = await this.read('/status');
    const body = reply.body as { height?: unknown; last_hash?: unknown } | null;
    const height = body?.height;
    if (typeof height !== 'number' || !Number.isSafeInteger(height) || typeof body?.last_hash !== 'string')
      throw new ChainError('the node status has no height and last_hash', false);
    return { height, hash: body.last_hash };
  }

  async account(address: string): Promise<ChainAccount> {
    const path = encodeURIComponent(address);
    const balanceReply = await this.read(`/balance/${path}`);
    // A node that has never seen an account may answer 404: it has sent nothing and holds
    // nothing, so its nonce is 0 and its balance 0. The framework's own 404 for a path it has no
    // route for ("Not Found") is a misconfigured URL, not an empty account.
    const unknown = isAccountNotFound(balanceReply, `/balance/${path}`);
    const pendingReply = await this.read(`/nonce/${path}?pending=true`);
    const pendingUnknown = isAccountNotFound(pendingReply, `/nonce/${path}`);
    const balance = unknown
      ? { nonce: 0, balance: '0' }
      : (balanceReply.body as { balance?: unknown; nonce?: unknown } | null);
    const nonce = balance?.nonce;
    const pendingNonce = pendingUnknown ? nonce : (pendingReply.body as { nonce?: unknown } | null)?.nonce;
    if (!isCount(nonce) || !isCount(pendingNonce))
      throw new ChainError(`the node gave no nonce for ${address}`, false);
    const raw = balance?.balance;
    const amount =
      typeof raw === 'string' && /^\d+$/.test(raw)
        ? BigInt(raw)
        : typeof raw === 'bigint' || (typeof raw === 'number' && Number.isSafeInteger(raw))
          ? BigInt(raw)
          : undefined;
    return {
      nonce,
      pendingNonce: Math.max(nonce, pendingNonce),
      ...(amount === undefined ? {} : { balance: amount }),
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.inFlight) c.abort(new Error('the chain client is closed'));
  }

  /** A GET whose failures become ChainErrors; 404 is left to the caller. */
  private async read(path: string): Promise<Reply> {
    let reply: Reply;
    try {
      reply = await this.request('GET', path);
    } catch (err) {
      throw new ChainError(`GET ${path}: ${describe(err)}`, true, { cause: err });
    }
    if (reply.status === 404) return reply;
    if (reply.status < 200 || reply.status > 299)
      throw new ChainError(`GET ${path}: ${httpError(reply)}`, isRetryableStatus(reply.status));
    if (!reply.parsed) throw new ChainError(`GET ${path}: the body is not JSON`, true);
    return reply;
  }

  private async request(method: 'GET' | 'POST', path: string, body?: string): Promise<Reply> {
    if (this.closed) throw new Error('the chain client is closed');
    const controller = new AbortController();
    this.inFlight.add(controller);
    const timer = setTimeout(
      () => controller.abort(new Error(`timed out after ${this.timeoutMs} ms`)),
      this.timeoutMs,
    );
    try {
      const res = await this.fetchFn(this.base + path, {
        method,
        signal: controller.signal,
        ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/json' } }),
      });
      // Reading the body stays under the same timeout: a node that stalls mid-body is down too.
      const text = await res.text();
      try {
        return { status: res.status, body: text.length > 0 ? parseJsonExact(text) : null, parsed: true };
      } catch {
        return { status: res.status, body: text.slice(0, 200), parsed: false };
      }
    } finally {
      clearTimeout(timer);
      this.inFlight.delete(controller);
    }
  }
}

/**
 * A 404 that says the node knows no such account (true), or none (false). The framework's 404
 * for a route it lacks ({"detail": "Not Found"}) means a wrong node URL: a ChainError.
 */
function isAccountNotFound(reply: Reply, path: string): boolean {
  if (reply.status !== 404) return false;
  if ((reply.body as { detail?: unknown } | null)?.detail === 'Not Found')
    throw new ChainError(
      `GET ${path}: HTTP 404: the node has no such endpoint (is the chain URL right?)`,
      false,
    );
  return true;
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isRetryableStatus(status: number): boolean {
  return status >= 500 || RETRYABLE_STATUS.has(status);
}

function httpError(reply: Reply): string {
  const detail = (reply.body as { detail?: unknown } | null)?.detail;
  return `HTTP ${reply.status}${typeof detail === 'string' ? `: ${detail}` : ''}`;
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? ` (${err.cause.message})` : '';
    return `${err.message}${cause}`;
  }
  return String(err);
}
