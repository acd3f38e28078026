// Connected providers: a session registers when its worker authenticates, posts offers, confirms
// the jobs it still runs with heartbeats, and unregisters when its socket closes.

import { randomUUID } from 'node:crypto';
import { describeAmountProblem, parseAmount } from '../domain/money.js';
import type { Offer } from '../domain/schemas/worker.js';
import { jobsLeasedTo } from '../store/handoff.js';
import { closeOffers, openOffer, upsertProvider } from '../store/providers.js';
import { ResultRejected, type DispatchContext } from './dispatch-context.js';
import type { Dispatch } from './dispatch.js';
import type { Leases } from './leases.js';
import type { Session, SessionTrust } from './sessions.js';
import { providerBalance, providerTrust } from '../store/verification.js';
import { newEntry } from '../domain/reputation.js';
import { lockReputation, saveReputations } from '../store/scheduler.js';

export class ProviderSessions {
  constructor(
    private readonly ctx: DispatchContext,
    private readonly dispatch: Dispatch,
    private readonly leases: Leases,
  ) {}

  async register(session: Session): Promise<void> {
    const { ctx } = this;
    const previous = ctx.sessions.get(session.address);
    if (previous) {
      previous.close(4004, 'replaced by a newer connection');
      await this.unregister(previous, 'replaced');
    }
    await upsertProvider(ctx.db, session, ctx.clock.nowMs());
    // Leases held by an earlier connection of this worker (before a market restart, or on a node
    // it left) cannot be finished through this one: requeue them now, without a penalty, rather
    // than let them expire against the provider for a break that was not its fault.
    const orphaned = await jobsLeasedTo(ctx.db, session.address);
    if (orphaned.length > 0)
      await this.leases.release(orphaned, 'worker reconnected', { worker: session.address });
    await ctx.reputation.load(ctx.db, session.address);
    session.trust = await this.trustOf(session.address);
    ctx.sessions.set(session.address, session);
    ctx.events.emit('worker.connected', { address: session.address });
    ctx.kick();
  }

  /**
   * The spec's "reputation starts from the offer's advertised score", for a provider the market
   * has no score for: a new key may claim anything, so the claim counts up to probation_score_cap.
   */
  private async startReputation(address: string, advertised: number | undefined): Promise<void> {
    const { ctx } = this;
    if (advertised === undefined || ctx.reputation.entry(address) !== undefined) return;
    const entry = newEntry(ctx.clock.nowMs(), Math.min(advertised, ctx.params().probation_score_cap));
    if (entry.score === 0) return;
    await ctx.db.transaction(async (tx) => {
      const held = await lockReputation(tx, [address]);
      if (!held.has(address)) await saveReputations(tx, [{ address, entry }]);
    });
    await ctx.reputation.load(ctx.db, address);
  }

  /** What the market has seen of this provider's work, and whether it holds a stake. */
  private async trustOf(address: string): Promise<SessionTrust> {
    const { ctx } = this;
    const row = await providerTrust(ctx.db, address);
    const stakeMin = parseAmount(ctx.params().provider_stake_min);
    const staked =
      stakeMin.ok && stakeMin.value > 0n ? (await providerBalance(ctx.db, address)) >= stakeMin.value : false;
    return {
      verifiedJobs: row?.verified_jobs ?? 0,
      verifiedUnits: row?.verified_units ?? 0,
      verifiedMs: row?.verified_ms ?? 0,
      staked,
      fraud: row?.fraud_at_ms != null,
      cooldowns: row?.cooldowns ?? {},
    };
  }

  /** The worker is gone: its jobs go back to the queue now rather than when their leases expire. */
  async unregister(session: Session, reason: string): Promise<void> {
    const { ctx } = this;
    if (ctx.sessions.get(session.address) !== session) return;
    ctx.sessions.delete(session.address);
    const jobIds = [...session.running.keys()];
    session.running.clear();
    await closeOffers(ctx.db, session.address, ctx.clock.nowMs());
    if (jobIds.length > 0)
      await this.leases.release(jobIds, `worker disconnected (${reason})`, {
        worker: session.address,
        outcome: 'lease_expired',
      });
  }

  async offer(session: Session, msg: Offer): Promise<string> {
    const { ctx } = this;
    const price = parseAmount(msg.price_per_unit);
    if (!price.ok)
      throw new ResultRejected('validation_error', `price_per_unit ${describeAmountProblem(price.problem)}`);
    const offerId = randomUUID();
    await openOffer(
      ctx.db,
      {
        offer_id: offerId,
        provider_address: session.address,
        units: msg.units,
        price_per_unit: price.value.toString(),
        fee_pct_ct: msg.fee_pct_ct,
        capability: session.capability,
        created_at_ms: ctx.clock.nowMs(),
      },
      ctx.nodeId,
    );
    await this.startReputation(session.address, msg.reputation_score);
    session.offer = {
      offerId,
      pricePerUnit: price.value,
      units: msg.units,
      capability: { ...session.capability, fee_pct_ct: msg.fee_pct_ct },
    };
    // An incoming offer may take over running jobs (spec "Preemption"); queued work comes first.
    await this.dispatch.tick();
    await this.leases.preemptFor(session);
    ctx.kick();
    return offerId;
  }

  /**
   * A heartbeat: the worker's slot count, and the jobs it still runs, confirmed. Nothing is
   * written here: the lease keeper renews confirmed leases in one statement per round
   * (src/market/leases.ts), so a heartbeat never waits on the database.
   */
  heartbeat(session: Session, freeSlotsNow: number, jobIds: readonly string[]): void {
    session.slots = freeSlotsNow + jobIds.length;
    const now = this.ctx.clock.nowMs();
    for (const id of jobIds) {
      const job = session.running.get(id);
      if (job) job.confirmedAtMs = now;
    }
    this.ctx.kick();
  }
}
