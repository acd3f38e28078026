// Offers: the providers' standing asks, cheapest first.

import type { FastifyInstance } from 'fastify';
import { formatAmount } from '../../domain/money.js';
import { ErrorBody } from '../../domain/schemas/common.js';
import { ListOffersQuery, OfferList } from '../../domain/schemas/offers.js';
import type { Market } from '../../market/market.js';
import { openOffers } from '../../market/queries.js';

export function offerRoutes(app: FastifyInstance, market: Market): void {
  app.get<{ Querystring: { limit: number; offset: number } }>(
    '/offers',
    {
      config: { access: 'any' },
      schema: {
        summary: 'Open offers of connected providers, cheapest first',
        tags: ['offers'],
        querystring: ListOffersQuery,
        response: { 200: OfferList, 400: ErrorBody, 401: ErrorBody },
      },
    },
    async (request) => {
      const { rows, total } = await openOffers(market, request.query.limit, request.query.offset);
      return {
        offers: rows.map((o) => ({
          offer_id: o.offer_id,
          provider: o.provider_address,
          units: o.units,
          price_per_unit: formatAmount(BigInt(o.price_per_unit)),
          fee_pct_ct: o.fee_pct_ct,
          capability: o.capability,
          created_at: o.created_at,
        })),
        total,
        limit: request.query.limit,
        offset: request.query.offset,
      };
    },
  );
}
