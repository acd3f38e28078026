// Account routes: a customer's own view, and the operator's create / fund / credit endpoints.

import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import {
  AccountCreated,
  AccountIdParams,
  AccountView,
  CreateAccountBody,
  CreditBody,
  FundBody,
  ProviderFundBody,
  LedgerReport,
} from '../../domain/schemas/accounts.js';
import { ErrorBody } from '../../domain/schemas/common.js';
import { MarketError } from '../../domain/errors.js';
import { verifyLedger } from '../../market/ledger.js';
import type { Market } from '../../market/market.js';
import { principalOf } from '../guard.js';

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody } as const;

export function accountRoutes(app: FastifyInstance, market: Market): void {
  app.get(
    '/accounts/me',
    {
      config: { access: 'any' },
      schema: {
        summary: "The caller's balance, escrow and credit",
        tags: ['accounts'],
        response: { 200: AccountView, ...errors },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      if (principal.kind !== 'customer')
        throw new MarketError('not_found', 'the operator key has no account');
      return market.accounts.view(principal.accountId);
    },
  );

  app.post<{ Body: CreateAccountBody }>(
    '/accounts',
    {
      config: { access: 'operator' },
      schema: {
        summary: 'Create a customer account (operator); the API key is shown once',
        tags: ['accounts'],
        body: CreateAccountBody,
        response: { 201: AccountCreated, ...errors },
      },
    },
    async (request, reply) => {
      return reply.status(201).send(await market.accounts.create(request.body));
    },
  );

  app.get<{ Params: { account_id: string } }>(
    '/accounts/:account_id',
    {
      config: { access: 'operator' },
      schema: {
        summary: 'An account (operator)',
        tags: ['accounts'],
        params: AccountIdParams,
        response: { 200: AccountView, ...errors },
      },
    },
    async (request) => {
      return market.accounts.view(request.params.account_id);
    },
  );

  app.post<{ Params: { account_id: string }; Body: FundBody }>(
    '/accounts/:account_id/fund',
    {
      config: { access: 'operator' },
      schema: {
        summary: 'Credit an account with a deposit (operator)',
        tags: ['accounts'],
        params: AccountIdParams,
        body: FundBody,
        response: { 200: AccountView, ...errors },
      },
    },
    async (request) => {
      return market.accounts.fund(request.params.account_id, request.body.amount, request.body.asset);
    },
  );

  app.post<{ Params: { address: string }; Body: ProviderFundBody }>(
    '/providers/:address/fund',
    {
      config: { access: 'operator' },
      schema: {
        summary:
          "Deposit into a provider's account, by chain address (operator): what it posts SLA bonds from",
        tags: ['accounts'],
        params: Type.Object({ address: Type.String({ minLength: 1, maxLength: 100 }) }),
        body: ProviderFundBody,
        response: {
          200: Type.Object({ address: Type.String(), account_id: Type.String(), balance: Type.String() }),
          ...errors,
        },
      },
    },
    async (request) => {
      return market.accounts.fundProvider(request.params.address, request.body.amount);
    },
  );

  app.put<{ Params: { account_id: string }; Body: CreditBody }>(
    '/accounts/:account_id/credit',
    {
      config: { access: 'operator' },
      schema: {
        summary: 'Set how far below zero an account may spend (operator)',
        tags: ['accounts'],
        params: AccountIdParams,
        body: CreditBody,
        response: { 200: AccountView, 409: ErrorBody, ...errors },
      },
    },
    async (request) => {
      return market.accounts.setCredit(
        request.params.account_id,
        request.body.credit_limit,
        request.body.asset,
      );
    },
  );

  app.get(
    '/ledger/verify',
    {
      config: { access: 'operator' },
      schema: {
        summary: 'Check the ledger invariants (operator)',
        tags: ['ledger'],
        response: { 200: LedgerReport, ...errors },
      },
    },
    async () => verifyLedger(market.db),
  );
}
