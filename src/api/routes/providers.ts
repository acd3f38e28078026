// GET /providers/{address}: a provider's balances, earnings, reputation and recent jobs. The
// operator reads any provider with its key; a provider reads its own by signing
// "taskmarket provider view <address> <unix seconds>" with its key (the worker's key file), sent
// as three headers. The time keeps a captured signature useful for PROVIDER_AUTH_SKEW_S only.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { MarketError } from '../../domain/errors.js';
import { utf8 } from '../../domain/hash.js';
import { unixSeconds } from '../../domain/clock.js';
import { addressFromPublicKey, verifySignature } from '../../domain/identity.js';
import { ErrorBody } from '../../domain/schemas/common.js';
import {
  PROVIDER_AUTH_HEADERS,
  PROVIDER_AUTH_SKEW_S,
  ProviderParams,
  providerViewMessage,
  ProviderView,
} from '../../domain/schemas/providers.js';
import type { Market } from '../../market/market.js';
import { providerView } from '../../market/provider-view.js';

export function providerRoutes(app: FastifyInstance, market: Market): void {
  app.get<{ Params: { address: string } }>(
    '/providers/:address',
    {
      // The gate (../guard.ts) checks the operator key or the provider's signature, and draws
      // on the operator's or the provider's request budget (a failed signature on the address's).
      config: { access: 'provider' },
      schema: {
        summary: 'A provider’s balances per asset, earnings, reputation and recent jobs',
        description: `The operator key, or the provider itself: headers ${PROVIDER_AUTH_HEADERS.publicKey} (its compressed public key, hex), ${PROVIDER_AUTH_HEADERS.timestamp} (unix seconds, within ${PROVIDER_AUTH_SKEW_S} s of the node's clock) and ${PROVIDER_AUTH_HEADERS.signature} (its signature of "taskmarket provider view <address> <timestamp>", as the worker signs).`,
        tags: ['providers'],
        params: ProviderParams,
        security: [{ apiKey: [] }, { providerSignature: [] }],
        response: { 200: ProviderView, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => {
      const { address } = request.params;
      const connected = market.dispatcher.sessionList().some((s) => s.address === address);
      return providerView(market.db, market.clock, market.params.get(), address, connected);
    },
  );
}

/**
 * Checks a provider's signed request for its own view (the gate calls it on a route naming
 * `access: 'provider'` when no Authorization header is sent): 401 when the headers are missing,
 * stale or do not verify, 403 when the key is another provider's.
 */
export function verifyProviderRequest(market: Market, request: FastifyRequest, address: string): void {
  const header = (name: string) => {
    const v = request.headers[name];
    return typeof v === 'string' ? v : undefined;
  };
  const publicKey = header(PROVIDER_AUTH_HEADERS.publicKey);
  const timestamp = header(PROVIDER_AUTH_HEADERS.timestamp);
  const signature = header(PROVIDER_AUTH_HEADERS.signature);
  if (!publicKey || !timestamp || !signature)
    throw new MarketError(
      'unauthorized',
      `send the operator key, or sign as the provider (${Object.values(PROVIDER_AUTH_HEADERS).join(', ')}); \`taskmarket worker status --key FILE\` does`,
    );
  let owner: string;
  try {
    owner = addressFromPublicKey(publicKey);
  } catch {
    throw new MarketError(
      'unauthorized',
      `${PROVIDER_AUTH_HEADERS.publicKey} is not a compressed secp256k1 key`,
    );
  }
  if (owner !== address)
    throw new MarketError('forbidden', `this key belongs to ${owner}, not to ${address}`);
  const t = /^[0-9]{1,12}$/.test(timestamp) ? Number(timestamp) : NaN;
  const now = unixSeconds(market.clock);
  if (!Number.isFinite(t) || Math.abs(now - t) > PROVIDER_AUTH_SKEW_S)
    throw new MarketError(
      'unauthorized',
      `${PROVIDER_AUTH_HEADERS.timestamp} must be unix seconds within ${PROVIDER_AUTH_SKEW_S} s of the node's clock (now ${now})`,
    );
  if (!verifySignature(publicKey, utf8(providerViewMessage(address, t)), signature))
    throw new MarketError('unauthorized', 'the provider signature does not verify');
}
