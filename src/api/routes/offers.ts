// Offers: the providers' standing asks, cheapest first.

import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { formatAmount } from '../../domain/money.js';
import { Capability } from '../../domain/schemas/capability.js';
import { Amount, ErrorBody, Strict } from '../../domain/schemas/common.js';
import type { Market } from '../../market/market.js';
import { openOffers, type OfferRow } from '../../market/queries.js';

export const OfferView = Type.Object({
  offer_id: Type.String(),
  provider: Type.String(),
  units: Type.Integer(),
  price_per_unit: Amount,
  fee_pct_ct: Type.Integer(),
  capability: Capability,
  created_at: Type.Integer(),
});

/** An offer row as the API shows it. */
export function offerView(o: OfferRow): Static<typeof OfferView> {
  return {
    offer_id: o.offer_id,
    provider: o.provider_address,
    units: o.units,
    price_per_unit: formatAmount(BigInt(o.price_per_unit)),
    fee_pct_ct: o.fee_pct_ct,
    // Stored from the worker's hello, which was validated against the schema.
    capability: o.capability as Capability,
    created_at: o.created_at,
  };
}

const Query = Strict({
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  offset: Type.Integer({ minimum: 0, default: 0 }),
});

export function offerRoutes(app: FastifyInstance, market: Market): void {
  app.get<{ Querystring: { limit: number; offset: number } }>(
    '/offers',
    {
      config: { access: 'any' },
      schema: {
        summary: 'Open offers of connected providers, cheapest first',
        tags: ['offers'],
        querystring: Query,
        response: {
          200: Type.Object({
            offers: Type.Array(OfferView),
            total: Type.Integer(),
            limit: Type.Integer(),
            offset: Type.Integer(),
          }),
          401: ErrorBody,
        },
      },
    },
    async (request) => {
      const { rows, total } = await openOffers(market, request.query.limit, request.query.offset);
      return {
        offers: rows.map(offerView),
        total,
        limit: request.query.limit,
        offset: request.query.offset,
      };
    },
  );
}
