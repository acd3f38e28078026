// GET /providers/{address}: what a provider sees of itself (or the operator of any provider):
// its balances per asset, what it has earned, its reputation and its recent jobs.

import { Type, type Static } from '@sinclair/typebox';
import { Amount, Nullable, Strict, StringEnum, UnixSeconds, Uuid } from './common.js';

export const ProviderParams = Strict({
  address: Type.String({ minLength: 4, maxLength: 100, description: 'the provider’s cpc1… address' }),
});

export const ProviderView = Type.Object(
  {
    address: Type.String(),
    /** The provider's ledger account, opened with its first payment or deposit. */
    account_id: Nullable(Uuid),
    connected: Type.Boolean({ description: 'a worker with this address is connected to this node now' }),
    first_seen: Nullable(UnixSeconds),
    last_seen: Nullable(UnixSeconds),
    balances: Type.Array(
      Type.Object({
        asset: Type.String(),
        balance: Type.String({ description: 'what the account holds now (bonds posted are not in it)' }),
      }),
    ),
    earned: Type.Array(
      Type.Object({ asset: Type.String(), amount: Amount }, { description: 'every settlement paid to it' }),
    ),
    reputation: Type.Object({
      score: Type.Integer({ description: 'decayed to now; -1000 to 1000' }),
      multiplier_ppm: Type.Integer({
        description: 'what the score does to its effective price, parts per million',
      }),
    }),
    jobs: Type.Object({
      completed: Type.Integer(),
      failed: Type.Integer(),
      lease_expiries: Type.Integer(),
      running: Type.Integer(),
    }),
    recent_jobs: Type.Array(
      Type.Object({
        job_id: Uuid,
        task_id: Uuid,
        challenge_type: Type.String(),
        status: StringEnum(['queued', 'leased', 'completed', 'failed', 'cancelled'] as const),
        units: Type.Integer(),
        started_at: Nullable(Type.Integer({ description: 'unix ms' })),
        finished_at: Nullable(Type.Integer({ description: 'unix ms' })),
        failure_reason: Nullable(Type.String()),
      }),
    ),
  },
  { title: 'Provider' },
);
export type ProviderView = Static<typeof ProviderView>;

/** The message a provider signs to read its own view: the address and the time, so it cannot be replayed later. */
export function providerViewMessage(address: string, unixSeconds: number): string {
  return `taskmarket provider view ${address} ${unixSeconds}`;
}

export const PROVIDER_AUTH_HEADERS = {
  publicKey: 'taskmarket-provider-key',
  timestamp: 'taskmarket-timestamp',
  signature: 'taskmarket-provider-signature',
} as const;
/** How far a signed timestamp may be from the node's clock. */
export const PROVIDER_AUTH_SKEW_S = 300;
