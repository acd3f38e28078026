// GET /dashboard/state: everything the dashboard page shows, in one read, for who is asking.
//
//   no key      lanes, admission mode and capacity, the price board, the settlement mode, how many
//               providers are connected and the capacity they claim
//   any key     + open offers, the courier outbox, the settlement balances (what GET /offers and
//               the compute.courier_status and settlement_status methods give any key), and the
//               caller's own recent tasks
//   operator    + every recent task and the providers connected to this node with their reputation
//
// It only reads: the page polls it every few seconds, so it sticks to indexed counts and memory.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { formatAmount } from '../../domain/money.js';
import { Capability } from '../../domain/schemas/capability.js';
import { Amount, ErrorBody, Nullable, Strict, StringEnum } from '../../domain/schemas/common.js';
import { ListTasksResponse } from '../../domain/schemas/tasks.js';
import { LANES, type Lane } from '../../domain/scheduler-params.js';
import { courierStatus } from '../../market/courier-ops.js';
import type { Market } from '../../market/market.js';
import { leasedByChallengeType, openOffers, queuedByChallengeType } from '../../market/queries.js';
import type { Principal } from '../../market/tasks.js';
import { offerView, OfferView } from './offers.js';
import { priceBoard } from './rpc.js';

const LaneView = Type.Object({
  queued: Type.Integer({ description: 'jobs waiting for a provider (every node)' }),
  running: Type.Integer({ description: 'jobs leased to a provider now (every node)' }),
  deferred: Type.Boolean({ description: "the lane's queued work waits until the market is loose again" }),
});

const LaneBandsView = Type.Object({
  p25: Nullable(Amount),
  median: Nullable(Amount),
  p75: Nullable(Amount),
  backlog: Type.Integer(),
  suggested_bid: Nullable(Amount),
});

const ProviderView = Type.Object({
  address: Type.String(),
  reputation: Type.Number(),
  slots: Type.Integer(),
  running: Type.Integer(),
  price_per_unit: Nullable(Amount),
  /** The price weighted by reputation, as matching ranks it. */
  effective_price: Nullable(Amount),
  fee_pct_ct: Nullable(Type.Integer()),
  capacity_claimed: Type.Integer({ description: 'units per second the provider offers, as it says' }),
  capacity_verified: Nullable(
    Type.Integer({
      description:
        'what its offer counts toward capacity as its verified work bears it out (0 on probation); null without an offer',
    }),
  ),
  capability: Capability,
});

const HeldEntry = Type.Object({
  id: Type.Integer(),
  kind: Type.String(),
  nonce: Nullable(Type.Integer()),
  tx_hash: Nullable(Type.String()),
  dedup_key: Type.String(),
  reason: Nullable(Type.String()),
});

export const DashboardState = Type.Object({
  viewer: StringEnum(['public', 'customer', 'operator'] as const),
  generated_at: Type.Integer({ description: 'unix time, milliseconds' }),
  admission: Type.Object({
    mode: StringEnum(['loose', 'tight'] as const),
    enabled: Type.Boolean(),
    capacity: Type.Number({ description: 'the capacity estimate, units per second' }),
    min_capacity: Type.Number(),
  }),
  lanes: Type.Object({ consumer: LaneView, industrial: LaneView }),
  price_board: Type.Object({ consumer: LaneBandsView, industrial: LaneBandsView }),
  settlement: Type.Object({
    mode: Type.String(),
    balances: Type.Optional(Type.Record(Type.String(), Amount, { description: 'any key' })),
  }),
  providers: Type.Object({
    connected: Type.Integer({ description: 'providers connected to this node' }),
    capacity_claimed: Type.Integer({ description: 'units per second offered now, as the providers say' }),
    capacity_verified: Nullable(
      Type.Integer({
        description:
          "units per second offered as the providers' verified work bears it out: what admission counts",
      }),
    ),
    sessions: Type.Optional(Type.Array(ProviderView, { description: 'operator: this node’s providers' })),
  }),
  offers: Type.Optional(
    Type.Object({ items: Type.Array(OfferView), total: Type.Integer() }, { description: 'any key' }),
  ),
  tasks: Type.Optional(
    Type.Object(
      { items: ListTasksResponse.properties.tasks, total: Type.Integer() },
      { description: "a customer's own recent tasks, newest first; the operator's are every account's" },
    ),
  ),
  courier: Type.Optional(
    Type.Object(
      {
        chain: Type.String({ description: '"off" when no chain is configured' }),
        sender: Type.Optional(Type.String()),
        outbox: Type.Optional(Type.Record(Type.String(), Type.Integer())),
        held: Type.Optional(Type.Array(HeldEntry)),
      },
      { description: 'any key' },
    ),
  ),
});
export type DashboardState = Static<typeof DashboardState>;

const Query = Strict({
  limit: Type.Integer({
    minimum: 1,
    maximum: 100,
    default: 20,
    description: 'how many recent tasks and offers to show',
  }),
});

/** Queued and running jobs per lane, from per-type counts and the lane map in force now. */
async function laneCounts(market: Market): Promise<Record<Lane, { queued: number; running: number }>> {
  const [queued, leased] = await Promise.all([queuedByChallengeType(market), leasedByChallengeType(market)]);
  const out = Object.fromEntries(LANES.map((l) => [l, { queued: 0, running: 0 }])) as Record<
    Lane,
    { queued: number; running: number }
  >;
  for (const [type, n] of queued) out[market.admission.laneOf(type)].queued += n;
  for (const [type, n] of leased) out[market.admission.laneOf(type)].running += n;
  return out;
}

function providerSessions(market: Market) {
  const d = market.dispatcher;
  return d
    .sessionList()
    .map((s) => ({
      address: s.address,
      reputation: d.reputationOf(s.address),
      slots: s.slots,
      running: s.running.size,
      price_per_unit: s.offer ? formatAmount(s.offer.pricePerUnit) : null,
      effective_price: s.offer ? formatAmount(d.effectivePriceOf(s)) : null,
      fee_pct_ct: s.offer?.capability.fee_pct_ct ?? null,
      capacity_claimed: s.offer?.units ?? 0,
      // What its verified work bears out (none on probation): what admission counts.
      capacity_verified: s.offer ? d.creditedUnitsOf(s) : null,
      capability: s.capability,
    }))
    .sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
}

async function courierView(market: Market): Promise<DashboardState['courier']> {
  const link = market.chainLink;
  return link ? courierStatus(market, link) : { chain: 'off' };
}

export async function dashboardState(
  market: Market,
  principal: Principal | undefined,
  limit: number,
): Promise<DashboardState> {
  const params = market.params.get();
  const mode = market.admission.mode;
  const lanes = await laneCounts(market);
  const state: DashboardState = {
    viewer: principal?.kind ?? 'public',
    generated_at: market.clock.nowMs(),
    admission: {
      mode,
      enabled: params.admission_enabled,
      capacity: market.admission.capacity(),
      min_capacity: params.min_capacity,
    },
    lanes: {
      consumer: { ...lanes.consumer, deferred: false },
      industrial: { ...lanes.industrial, deferred: mode === 'tight' },
    },
    price_board: priceBoard(market),
    settlement: { mode: market.settlement.mode() },
    providers: {
      connected: market.dispatcher.connected,
      capacity_claimed: market.dispatcher.claimedUnits() + market.cluster.otherClaimed,
      capacity_verified: market.dispatcher.offeredUnits() + market.cluster.otherUnits,
    },
  };
  if (!principal) return state;
  const [offers, tasks, settlement, courier] = await Promise.all([
    openOffers(market, limit, 0),
    market.tasks.list(principal, { limit, offset: 0 }),
    market.settlement.status(),
    courierView(market),
  ]);
  state.offers = { items: offers.rows.map((o) => offerView(o, market.params.get())), total: offers.total };
  state.tasks = { items: tasks.tasks, total: tasks.total };
  state.settlement.balances = settlement.balances as Record<string, string>;
  state.courier = courier;
  if (principal.kind === 'operator') state.providers.sessions = providerSessions(market);
  return state;
}

export function dashboardStateRoutes(app: FastifyInstance, market: Market): void {
  app.get<{ Querystring: { limit: number } }>(
    '/dashboard/state',
    {
      config: { access: 'optional' },
      schema: {
        summary:
          'What the dashboard shows: lanes, price board, settlement and capacity for anyone; offers, ' +
          'courier and own tasks with a key; providers and every task for the operator',
        tags: ['dashboard'],
        // No key is fine; a key shows more.
        security: [{}, { apiKey: [] }],
        querystring: Query,
        response: { 200: DashboardState, 400: ErrorBody, 401: ErrorBody },
      },
    },
    async (request: FastifyRequest<{ Querystring: { limit: number } }>) =>
      dashboardState(market, request.principal, request.query.limit),
  );
}
