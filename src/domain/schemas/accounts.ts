// Account shapes: customers' own view, and the operator's endpoints that create and fund them.

import { Type, type Static } from '@sinclair/typebox';
import { Amount, Strict, UnixSeconds, Uuid } from './common.js';

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

export const AccountView = Type.Object({
  account_id: Uuid,
  name: Type.String(),
  asset: Type.String(),
  balance: Type.String({ description: 'may be negative down to minus the credit limit' }),
  escrow: Amount,
  credit_limit: Amount,
  available: Amount,
  created_at: UnixSeconds,
});
export type AccountView = Static<typeof AccountView>;

export const AccountIdParams = Strict({ account_id: Uuid });

export const FundBody = Strict({ amount: Amount });
export type FundBody = Static<typeof FundBody>;

export const CreditBody = Strict({ credit_limit: Amount });
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
