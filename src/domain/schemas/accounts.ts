// Account shapes: customers' own view, and the operator's endpoints that create and fund them.

import { Type, type Static } from '@sinclair/typebox';
import { ASSETS } from '../money.js';
import { Amount, Strict, StringEnum, UnixSeconds, Uuid } from './common.js';

const AssetSchema = StringEnum(ASSETS, {
  description: 'CPC, the consumer token (the default), or IT, the industrial token',
});

export const CreateAccountBody = Strict({
  name: Type.String({ minLength: 1, maxLength: 100, pattern: '^[^\\u0000-\\u001f]+$' }),
  credit_limit: Type.Optional(Amount),
});
export type CreateAccountBody = Static<typeof CreateAccountBody>;

export const AccountCreated = Type.Object({
  account_id: Uuid,
  name: Type.String(),
  api_key: Type.String({ description: 'shown once; the market stores only its hash' }),
  created_at: UnixSeconds,
});
export type AccountCreated = Static<typeof AccountCreated>;

const Holding = {
  asset: Type.String(),
  balance: Type.String({ description: 'may be negative down to minus the credit limit' }),
  escrow: Amount,
  credit_limit: Amount,
  available: Amount,
};

export const AccountView = Type.Object({
  account_id: Uuid,
  name: Type.String(),
  /** The consumer token's (CPC) figures at the top level; every asset's in `balances`. */
  ...Holding,
  balances: Type.Array(Type.Object(Holding), { description: 'every asset the account holds, CPC first' }),
  created_at: UnixSeconds,
});
export type AccountView = Static<typeof AccountView>;

export const AccountIdParams = Strict({ account_id: Uuid });

export const FundBody = Strict({ amount: Amount, asset: Type.Optional(AssetSchema) });
export type FundBody = Static<typeof FundBody>;

/** A provider's deposit is CPC: bonds are posted in the chain's coin. */
export const ProviderFundBody = Strict({ amount: Amount });
export type ProviderFundBody = Static<typeof ProviderFundBody>;

export const CreditBody = Strict({ credit_limit: Amount, asset: Type.Optional(AssetSchema) });
export type CreditBody = Static<typeof CreditBody>;

export const LedgerReport = Type.Object({
  ok: Type.Boolean(),
  assets: Type.Array(
    Type.Object({
      asset: Type.String(),
      funded: Amount,
      held_in_escrow: Amount,
      burned: Amount,
    }),
  ),
  violations: Type.Array(Type.String()),
});
export type LedgerReport = Static<typeof LedgerReport>;
