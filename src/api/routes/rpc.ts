// One JSON-RPC endpoint for the compute-market methods. It answers JSON-RPC 2.0
// ({"jsonrpc":"2.0","id",...} → {"jsonrpc","id","result"|"error"}) and also the spec's bare form
// ({"method": …} → the result itself, errors in the usual error shape).
//
// Methods live in a Map: a name is looked up as data, never as a property, so `toString`,
// `constructor` or `__proto__` are unknown methods like any other (-32601 / 404 method_not_found).

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { ERRORS, MarketError, validationError } from '../../domain/errors.js';
import { formatAmount } from '../../domain/money.js';
import { ErrorBody } from '../../domain/schemas/common.js';
import { typesOfLane } from '../../domain/admission.js';
import { LANES, type Lane } from '../../domain/scheduler-params.js';
import type { Market } from '../../market/market.js';
import type { Principal } from '../../market/tasks.js';
import { demandOf, jobById, queuedByPriority, verificationStats } from '../../market/queries.js';
import { toMarketError } from '../errors.js';
import { principalOf } from '../guard.js';
import { PEER_METHODS, REPUTATION_METHODS } from './rpc-reputation.js';
import { COURIER_METHODS } from './rpc-courier.js';

const RpcBody = Type.Object(
  {
    jsonrpc: Type.Optional(Type.Literal('2.0')),
    id: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Number(), Type.Null()])),
    method: Type.String({ minLength: 1, maxLength: 100 }),
    params: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
);
type RpcBody = {
  jsonrpc?: '2.0';
  id?: string | number | null;
  method: string;
  params?: Record<string, unknown>;
};

type Method = (market: Market, principal: Principal, params: Record<string, unknown>) => Promise<unknown>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function jobIdParam(params: Record<string, unknown>): string {
  const id = params.job_id;
  if (typeof id !== 'string' || !UUID.test(id))
    throw validationError([{ path: '/params/job_id', message: 'must be a job id (UUID)' }]);
  return id;
}

/** A lane's price bands and the bid its backlog suggests, in CPC per unit. */
export interface LaneBands {
  p25: string | null;
  median: string | null;
  p75: string | null;
  backlog: number;
  suggested_bid: string | null;
}

/** Each lane's price bands and the bid its backlog suggests (spec "Price Board"). */
export function priceBoard(market: Market): Record<Lane, LaneBands> {
  const amount = (v: bigint | null | undefined) => (v === null || v === undefined ? null : formatAmount(v));
  const lanes = market.priceBoardView();
  return Object.fromEntries(
    LANES.map((lane) => {
      const v = lanes[lane];
      const bands: LaneBands = {
        p25: amount(v.bands?.p25),
        median: amount(v.bands?.median),
        p75: amount(v.bands?.p75),
        backlog: v.backlog,
        suggested_bid: amount(v.suggested_bid),
      };
      return [lane, bands];
    }),
  ) as Record<Lane, LaneBands>;
}

const OWN_METHODS: Record<string, Method> = {
  async settlement_status(market) {
    return market.settlement.status();
  },

  async 'settlement.set_mode'(market, principal, params) {
    if (principal.kind !== 'operator')
      throw new MarketError('forbidden', 'only the operator switches settlement modes');
    const delay = params.delay_ms ?? 0;
    if (typeof delay !== 'number' || !Number.isSafeInteger(delay) || delay < 0)
      throw validationError([
        { path: '/params/delay_ms', message: 'must be a non-negative integer (milliseconds)' },
      ]);
    if (params.mode === 'Armed')
      return { mode: await market.settlement.command({ type: 'arm', delayMs: delay }) };
    if (params.mode === 'DryRun') return { mode: await market.settlement.command({ type: 'disarm' }) };
    throw validationError([
      { path: '/params/mode', message: 'must be "Armed" (turns Real after delay_ms) or "DryRun"' },
    ]);
  },

  async 'compute_market.scheduler_stats'(market, _principal, params) {
    const d = market.dispatcher;
    const utilization: Record<string, number> = {};
    let active = 0;
    const effective: Record<string, string> = {};
    for (const s of d.sessionList()) {
      active += s.running.size;
      const model = s.capability.gpu_model ?? 'cpu';
      utilization[model] = (utilization[model] ?? 0) + s.running.size;
      if (s.offer) effective[s.address] = formatAmount(d.effectivePriceOf(s));
    }
    return {
      ...d.stats,
      active_jobs: active,
      utilization,
      queue_depths: await queuedByPriority(market),
      queue_in_memory: d.queuedInMemory(),
      ...(params.effective === true ? { effective_price: effective } : {}),
    };
  },

  async 'compute_market.stats'(market) {
    const p = market.params.get();
    const industrial = typesOfLane('industrial', p);
    const demand = await demandOf(market, industrial);
    let slots = 0;
    let busy = 0;
    for (const s of market.dispatcher.sessionList()) {
      slots += s.slots;
      busy += s.running.size;
    }
    return {
      industrial_backlog: demand.backlog,
      industrial_utilization: slots === 0 ? 0 : Number((busy / slots).toFixed(4)),
      industrial_units_total: demand.unitsTotal,
      industrial_price_per_unit: demand.lastPrice === null ? null : formatAmount(BigInt(demand.lastPrice)),
      admission_mode: market.admission.mode,
      capacity: market.admission.capacity(),
    };
  },

  /**
   * How the market checks results: its verification parameters, its task jobs by verification
   * status, canary slices passed and failed, frauds found, and where providers stand.
   */
  async 'compute_market.verification_stats'(market) {
    const p = market.params.get();
    return {
      enabled: p.verification_enabled,
      verify_rate_max: p.verify_rate_max,
      verify_rate_min: p.verify_rate_min,
      canary_rate: p.canary_rate,
      probation_jobs: p.probation_jobs,
      probation_slots: p.probation_slots,
      ...(await verificationStats(market)),
    };
  },

  /** Each lane's price bands and the bid its backlog suggests (spec "Price Board"), in CPC per unit. */
  async 'compute_market.price_board'(market) {
    return priceBoard(market);
  },

  async 'compute.job_requirements'(market, principal, params) {
    const jobId = jobIdParam(params);
    const job = await jobById(market, jobId);
    if (!job) throw new MarketError('not_found', `job ${jobId} not found`);
    const task = await market.tasks.get(principal, job.task_id).catch(() => {
      throw new MarketError('not_found', `job ${jobId} not found`);
    });
    return {
      job_id: jobId,
      challenge_type: job.challenge_type,
      ...(job.challenge_type === 'inference' ? { model: task.payload.model_id } : {}),
      requirements: task.requirements ?? {},
      units: job.units,
      priority: task.priority,
    };
  },

  async 'compute.job_cancel'(market, principal, params) {
    const jobId = jobIdParam(params);
    const reason = params.reason ?? 'client';
    if (reason === 'provider') {
      if (principal.kind !== 'operator')
        throw new MarketError('forbidden', 'only the operator reports provider-side cancels');
      await market.dispatcher.providerCancel(jobId);
    } else if (reason === 'client') await market.tasks.cancelJob(principal, jobId);
    else throw validationError([{ path: '/params/reason', message: 'must be "client" or "provider"' }]);
    return { job_id: jobId, status: 'cancelled', reason };
  },
};

/** Every method by name; `Object.entries` reads only own properties, so nothing inherited. */
export const METHODS: ReadonlyMap<string, Method> = new Map(
  [OWN_METHODS, REPUTATION_METHODS, COURIER_METHODS].flatMap((group) => Object.entries(group)),
);
const METHOD_NAMES = [...METHODS.keys()].join(', ');

const JSONRPC_CODES: Partial<Record<string, number>> = {
  validation_error: -32602,
  method_not_found: -32601,
  not_found: -32004,
  internal: -32603,
};

export function rpcRoutes(app: FastifyInstance, market: Market): void {
  app.post<{ Body: RpcBody }>(
    '/rpc',
    {
      config: { access: 'rpc' },
      schema: {
        summary: `JSON-RPC: ${METHOD_NAMES}`,
        tags: ['rpc'],
        body: RpcBody,
        response: {
          200: {
            description:
              'the bare form: the method’s result; JSON-RPC 2.0: {"jsonrpc":"2.0","id","result"} or {"jsonrpc","id","error":{"code","message","data"}}',
            content: { 'application/json': { schema: {} } },
          },
          400: ErrorBody,
          401: ErrorBody,
          403: ErrorBody,
          404: ErrorBody,
        },
      },
    },
    async (request: FastifyRequest<{ Body: RpcBody }>, reply) => {
      const { jsonrpc, id, method, params = {} } = request.body;
      try {
        // A peer's peer_key acts as the operator for the peer methods (reputation.gossip) only.
        if (request.peer && !PEER_METHODS.has(method))
          throw new MarketError('unauthorized', 'the peer key opens the peer methods only');
        const principal: Principal = principalOf(request);
        const fn = METHODS.get(method);
        if (!fn)
          throw new MarketError(
            'method_not_found',
            `unknown method ${JSON.stringify(method)}; known: ${METHOD_NAMES}`,
          );
        const result = await fn(market, principal, params);
        return jsonrpc ? { jsonrpc, id: id ?? null, result } : result;
      } catch (err) {
        if (!jsonrpc) throw err;
        const e = toMarketError(err);
        return reply.status(200).send({
          jsonrpc,
          id: id ?? null,
          error: {
            code: JSONRPC_CODES[e.code] ?? -32000 - ERRORS[e.code].status,
            message: e.message,
            data: { code: e.code, ...(e.details ? { details: e.details } : {}) },
          },
        });
      }
    },
  );
}
