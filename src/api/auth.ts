// Who is calling: a Bearer API key resolves to the operator or a customer account.

import type { FastifyRequest } from 'fastify';
import { MarketError } from '../domain/errors.js';
import type { Market } from '../market/market.js';
import type { Principal } from '../market/tasks.js';

export type Access = 'customer' | 'operator' | 'any';

const BEARER = /^Bearer ([A-Za-z0-9_\-.~+/]{8,200}=*)$/;

export async function authenticate(
  market: Market,
  request: FastifyRequest,
  access: Access,
): Promise<Principal> {
  const header = request.headers.authorization;
  if (!header) throw new MarketError('unauthorized', 'missing Authorization: Bearer <api key> header');
  const m = BEARER.exec(header);
  if (!m?.[1]) throw new MarketError('unauthorized', 'the Authorization header must be "Bearer <api key>"');
  const principal = await market.accounts.authenticate(m[1]);
  if (!principal) throw new MarketError('unauthorized', 'unknown API key');
  if (access === 'operator' && principal.kind !== 'operator')
    throw new MarketError('forbidden', 'this endpoint needs the operator key');
  if (access === 'customer' && principal.kind !== 'customer')
    throw new MarketError('forbidden', 'this endpoint needs a customer API key');
  return principal;
}
