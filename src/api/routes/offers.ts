// Offers: the providers' standing asks, cheapest first.

import type { FastifyInstance } from 'fastify';
import { secondsOf } from '../../domain/clock.js';
import { formatAmount } from '../../domain/money.js';
import type { Capability } from '../../domain/schemas/capability.js';
import { ErrorBody } from '../../domain/schemas/common.js';
import { ListOffersQuery, OfferList, OfferView } from '../../domain/schemas/offers.js';
import type { SchedulerParams } from '../../domain/scheduler-params.js';
import {
  creditedUnits,
  hardwareStanding,
  measuredRate,
  onProbation,
  type ShownWork,
} from '../../domain/verification.js';
import type { Market } from '../../market/market.js';
import { openOffers, type OpenOfferRow } from '../../market/queries.js';

export { OfferView };

/** An offer row as the API shows it, with how far its provider's verified work bears it out. */
export function offerView(o: OpenOfferRow, params: SchedulerParams): OfferView {
  return {
    offer_id: o.offer_id,
    provider: o.provider_address,
    units: o.units,
    price_per_unit: formatAmount(BigInt(o.price_per_unit)),
    fee_pct_ct: o.fee_pct_ct,
    // Stored from the worker's hello, which was validated against the schema.
    capability: o.capability as Capability,
    created_at: secondsOf(o.created_at_ms),
    ...shownWorkView(o, params),
  };
}

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
        offers: rows.map((o) => offerView(o, market.params.get())),
        total,
        limit: request.query.limit,
        offset: request.query.offset,
      };
    },
  );
}

/** How far an offer's claims are borne out by its provider's verified work. */
function shownWorkView(o: OpenOfferRow, params: SchedulerParams) {
  const w: ShownWork = {
    verifiedJobs: o.verified_jobs,
    verifiedUnits: o.verified_units,
    verifiedMs: o.verified_ms,
    staked: false,
    fraud: o.fraud,
  };
  const rate = measuredRate(w);
  return {
    hardware: hardwareStanding((o.capability as { gpu_count?: number }).gpu_count ?? 0, w, params),
    probation: onProbation(w.verifiedJobs, w.staked, params),
    measured_units_per_s: rate === null ? null : Number(rate.toFixed(3)),
    credited_units: creditedUnits(o.units, w, params),
  };
}
