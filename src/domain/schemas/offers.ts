// GET /offers: the providers' standing asks, cheapest first.

import { Type, type Static } from '@sinclair/typebox';
import { Capability } from './capability.js';
import { Amount, Nullable, Strict, StringEnum } from './common.js';
import { HARDWARE_STANDINGS } from '../verification.js';

export const OfferView = Type.Object(
  {
    offer_id: Type.String(),
    provider: Type.String(),
    units: Type.Integer(),
    price_per_unit: Amount,
    fee_pct_ct: Type.Integer(),
    capability: Capability,
    created_at: Type.Integer(),
    hardware: StringEnum(HARDWARE_STANDINGS, {
      description:
        'claimed: as the provider says; verified: past probation with measured work; implausible: claims GPUs but its verified work runs at CPU speed',
    }),
    probation: Type.Boolean({ description: 'its results are all checked and it counts for no capacity yet' }),
    measured_units_per_s: Nullable(
      Type.Number({ description: 'units per second its verified work ran at; null before it has any' }),
    ),
    credited_units: Type.Integer({ description: 'what the offer counts toward admission capacity' }),
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
