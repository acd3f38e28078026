// The gate every request passes before its body is read: the node closing (503), an encoded body
// (415), who is calling (401/403) and their request budget (429). It runs in onRequest, so a
// caller without a valid key is answered before a byte of the body is read or validated; the
// connection is closed after such an answer so the unread body is never taken in either.
//
// A route names who may call it in `config.access`; a route without it is public (operations,
// docs). /rpc names `rpc`: any key, or the peer_key, which serves the peer methods only. A route
// naming `optional` is public without a key; a key it is given is checked like anywhere else (a
// wrong one is 401, counted against the address), and the route shows more to who it names.
// A route naming `provider` (GET /providers/{address}) takes the operator key, or else the
// provider's signature of its own address; a provider draws on a budget of its own.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MarketError } from '../domain/errors.js';
import type { Market } from '../market/market.js';
import type { Principal } from '../market/tasks.js';
import { authenticate, type Access } from './auth.js';
import { sendError } from './errors.js';
import { Buckets } from './rate-limit.js';
import { verifyProviderRequest } from './routes/providers.js';
import { peerKeyMatches } from './routes/rpc-reputation.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access | 'rpc' | 'optional' | 'provider';
  }
  interface FastifyRequest {
    /** Who is calling, set by the gate on every route that names its access. */
    principal?: Principal;
    /** The caller presented the peer_key: only the peer methods of /rpc are open to it. */
    peer?: boolean;
  }
}

/** The principal the gate authenticated; a route that reads it must name its access. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new MarketError('internal', 'route without access control');
  return request.principal;
}

/** Whether a request announces a body (that an early answer should not wait to read). */
function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return (length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined;
}

/** Answers before the body is read; closing the connection means the body is never read. */
export function refuse(request: FastifyRequest, reply: FastifyReply, error: MarketError): FastifyReply {
  if (hasBody(request)) void reply.header('connection', 'close');
  return sendError(reply, error);
}

export function installGuard(app: FastifyInstance, market: Market): void {
  const limit = market.config.rate_limit_per_second;
  const accounts = limit > 0 ? new Buckets(limit) : undefined;
  const failures = limit > 0 ? new Buckets(limit) : undefined;
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });

  app.addHook('onRequest', async (request, reply) => {
    if (closing) return refuse(request, reply, new MarketError('unavailable', 'the node is shutting down'));
    const access = request.routeOptions.config.access;
    if (access === undefined || (access === 'optional' && request.headers.authorization === undefined))
      return checkEncoding(request, reply);
    const now = market.clock.nowMs();
    // An address that keeps failing is refused before its keys cost a lookup.
    if (failures && !failures.has(request.ip, now))
      return refuse(
        request,
        reply,
        new MarketError('rate_limited', `more than ${limit} failed authentications per second`, {
          retry_after_s: 1,
        }),
      );
    let who: string | undefined;
    try {
      if (access === 'rpc' && peerKeyMatches(market.config.peer_key, request.headers.authorization)) {
        request.peer = true;
        request.principal = { kind: 'operator' };
      } else if (access === 'provider' && request.headers.authorization === undefined) {
        const { address } = request.params as { address: string };
        verifyProviderRequest(market, request, address);
        who = `provider:${address}`;
      } else
        request.principal = await authenticate(
          market,
          request,
          access === 'rpc' || access === 'optional' ? 'any' : access === 'provider' ? 'operator' : access,
        );
    } catch (err) {
      if (!(err instanceof MarketError)) throw err;
      if (err.code === 'unauthorized') failures?.take(request.ip, now);
      return refuse(request, reply, err);
    }
    who ??= request.principal?.kind === 'customer' ? request.principal.accountId : 'operator';
    if (accounts && !accounts.take(who, now))
      return refuse(
        request,
        reply,
        new MarketError('rate_limited', `more than ${limit} requests per second`, { retry_after_s: 1 }),
      );
    return checkEncoding(request, reply);
  });
}

/** Bodies are taken as sent: an encoded one (gzip, br, …) is 415, never read as if plain. */
function checkEncoding(request: FastifyRequest, reply: FastifyReply): FastifyReply | undefined {
  const encoding = request.headers['content-encoding'];
  if (encoding === undefined || encoding.trim().toLowerCase() === 'identity') return undefined;
  return refuse(
    request,
    reply,
    new MarketError(
      'unsupported_media_type',
      `Content-Encoding ${JSON.stringify(encoding)} is not supported; send the body unencoded`,
    ),
  );
}
