// GET /offers: the providers' standing asks, cheapest first.

import { Type, type Static } from '@sinclair/typebox';
import { Capability } from './capability.js';
import { Amount, Strict } from './common.js';

export const OfferView = Type.Object(
  {
    offer_id: Type.String(),
    provider: Type.String(),
    units: Type.Integer(),
    price_per_unit: Amount,
    fee_pct_ct: Type.Integer(),
    capability: Capability,
    created_at: Type.Integer(),
  },
  { title: 'Offer' },
);
export type OfferView = Static<typeof OfferView>;

export const ListOffersQuery = Strict({
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  offset: Type.Integer({ minimum: 0, default: 0 }),
});

export const OfferList = Type.Object({
  offers: Type.Array(OfferView),
  total: Type.Integer(),
  limit: Type.Integer(),
  offset: Type.Integer(),
});
export type OfferList = Static<typeof OfferList>;
