// Bid commit–reveal (spec compute-market.md "Bid Commit–Reveal"): POST /bids commits a hash and
// queues its BidTx; POST /bids/{bid_id}/reveal reveals (salt, task) no sooner than two blocks
// after the block holding it, creating the task; GET /bids/{bid_id} follows it.

import type { FastifyInstance } from 'fastify';
import { ErrorBody } from '../../domain/schemas/common.js';
import {
  BidIdParams,
  BidView,
  CommitBidBody,
  RevealBidBody,
  type CommitBidBody as CommitBody,
  type RevealBidBody as RevealBody,
} from '../../domain/schemas/bids.js';
import { BidBook } from '../../market/bids.js';
import type { Market } from '../../market/market.js';
import { principalOf } from '../guard.js';

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 503: ErrorBody } as const;

export function bidRoutes(app: FastifyInstance, market: Market): void {
  const bids = new BidBook(market);

  app.post<{ Body: CommitBody }>(
    '/bids',
    {
      config: { access: 'customer' },
      schema: {
        summary: 'Commit an industrial bid as a hash; its BidTx goes on chain',
        tags: ['bids'],
        body: CommitBidBody,
        response: { 201: BidView, 409: ErrorBody, ...errors },
      },
    },
    async (request, reply) =>
      reply.status(201).send(await bids.commit(principalOf(request), request.body.commitment)),
  );

  app.get<{ Params: { bid_id: string } }>(
    '/bids/:bid_id',
    {
      config: { access: 'customer' },
      schema: {
        summary: 'A bid: its commitment, the block holding it, when it can be revealed, its task',
        tags: ['bids'],
        params: BidIdParams,
        response: { 200: BidView, ...errors },
      },
    },
    async (request) => bids.get(principalOf(request), request.params.bid_id),
  );

  app.post<{ Params: { bid_id: string }; Body: RevealBody }>(
    '/bids/:bid_id/reveal',
    {
      config: { access: 'customer' },
      schema: {
        summary:
          'Reveal a bid (salt and task) two or more blocks after its commitment; a match creates the task',
        tags: ['bids'],
        params: BidIdParams,
        body: RevealBidBody,
        response: { 200: BidView, 402: ErrorBody, 409: ErrorBody, 422: ErrorBody, ...errors },
      },
    },
    async (request) =>
      bids.reveal(principalOf(request), request.params.bid_id, request.body.salt, request.body.task),
  );
}
