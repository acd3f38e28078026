// A provider's own view (GET /providers/{address}): balances per asset, what settlement has paid
// it, its reputation decayed to now and what that does to its price, its job counts and its most
// recent jobs.

import { secondsOf, type Clock } from '../domain/clock.js';
import { MarketError } from '../domain/errors.js';
import { formatAmount } from '../domain/money.js';
import { currentScore, multiplierPpm } from '../domain/reputation.js';
import type { SchedulerParams } from '../domain/scheduler-params.js';
import type { ProviderView } from '../domain/schemas/providers.js';
import type { Queryable } from '../store/db.js';
import { providerFacts, providerMoney, recentJobsOf } from '../store/provider-view.js';
import { loadReputation } from '../store/scheduler.js';

export const RECENT_JOBS = 20;

export async function providerView(
  q: Queryable,
  clock: Clock,
  params: SchedulerParams,
  address: string,
  connected: boolean,
): Promise<ProviderView> {
  const facts = await providerFacts(q, address);
  if (!facts)
    throw new MarketError('not_found', `no provider ${address}: it has never connected or been paid here`);
  const money = facts.account_id ? await providerMoney(q, facts.account_id) : [];
  const score = currentScore(await loadReputation(q, address), clock.nowMs(), params);
  return {
    address,
    account_id: facts.account_id,
    connected,
    first_seen: facts.first_seen_ms === null ? null : secondsOf(facts.first_seen_ms),
    last_seen: facts.last_seen_ms === null ? null : secondsOf(facts.last_seen_ms),
    balances: money.map((m) => ({ asset: m.asset, balance: formatAmount(BigInt(m.balance)) })),
    earned: money.map((m) => ({ asset: m.asset, amount: formatAmount(BigInt(m.earned)) })),
    reputation: { score, multiplier_ppm: multiplierPpm(score, params) },
    jobs: {
      completed: facts.jobs_completed,
      failed: facts.jobs_failed,
      lease_expiries: facts.lease_expiries,
      running: facts.running,
    },
    // Job times are Unix ms on the wire too (the provider view's one exception, as before).
    recent_jobs: (await recentJobsOf(q, address, RECENT_JOBS)).map(
      ({ started_at_ms, finished_at_ms, ...j }) => ({
        ...j,
        started_at: started_at_ms,
        finished_at: finished_at_ms,
      }),
    ),
  };
}
