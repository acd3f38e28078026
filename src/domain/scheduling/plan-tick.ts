// One dispatch tick as a pure plan (as nomad's scheduler plans an evaluation): given a snapshot of
// the queue heads and the connected providers, the parameters, the time and a seed, it returns
// every lease the tick should make (with its bond and quote), the providers' fair-share usage after
// the industrial leases are charged, and why each job looked at and not leased is waiting. The
// service (src/market/dispatch.ts) takes the snapshot and applies the plan in one transaction;
// a lease the store refuses (another node took the job, a bond could not be posted) is simply not
// made, and the plan's other leases stand.
//
//   consumer heads ──planMatches──▶ leases ─┐
//                                           ├─ room left ──▶ industrial heads (loose only) ──▶ leases
//   providers (fair share, bondability) ────┘                  charged against fair share
//
// Consumer work is planned first: it is latency-sensitive, and batch work takes what is left.
// While the comfort guard is tight the industrial lane is not planned at all (`deferred`).

import { checkParties, decayUsage, fairShareCap, laneOf, type Mode, type PartyUsage } from '../admission.js';
import { capabilityProblem, planMatches, type Assignment } from '../matcher.js';
import { priorityMiss, type Priority, type Queued } from '../priority.js';
import type { Lane, SchedulerParams } from '../scheduler-params.js';
import { bondFor, needsBond } from './bonds.js';
import type { JobNeed, NoMatchReason, Provider } from './match-types.js';

/** A queued job as the tick sees it: what matching needs, its queue position, task and deadline. */
export interface TickJob extends Queued, Omit<JobNeed, 'priority'> {
  readonly priority: Priority;
  readonly taskId: string;
  /** The task's deadline, Unix ms, or null. */
  readonly deadlineMs: number | null;
}

export interface TickProvider extends Provider {
  /** The provider's industrial fair-share record (admission), if it has one. */
  usage?: PartyUsage | undefined;
  /** Until when (ms) it takes no industrial work: it could not post an SLA bond lately. */
  unbondableUntil?: number | undefined;
}

export interface TickSnapshot {
  /** Milliseconds. */
  nowMs: number;
  providers: readonly TickProvider[];
  /** Jobs running now, all and low-priority (the base of low_priority_cap_pct). */
  running: { total: number; low: number };
  /** Each lane's head in queue order. */
  heads: Readonly<Record<Lane, readonly TickJob[]>>;
  /** The comfort guard's mode for this tick. */
  mode: Mode;
  /** The admission capacity estimate (units per second), for the providers' fair share. */
  capacity: number;
  leaseMs: number;
}

export interface PlannedLease extends Assignment {
  taskId: string;
  lane: Lane;
  units: number;
  /** The provider's price per unit as quoted now: what the customer pays for the job. */
  quotePerUnit: bigint;
  /** The SLA bond the provider posts with the lease; 0n for none. */
  bond: bigint;
  leaseExpiresAtMs: number;
  /** A normal or high job that waited past priority_miss_seconds. */
  priorityMiss: boolean;
}

export interface TickPlan {
  leases: PlannedLease[];
  /** Why each job looked at and not leased is waiting. */
  reasons: Map<string, NoMatchReason>;
  /** Providers' fair-share records with this plan's industrial leases charged. */
  usage: Map<string, PartyUsage>;
  /** True when the industrial lane was held back whole (tight). */
  deferredLane: boolean;
}

/** How many queued jobs of each lane a tick looks at: a little past the free slots, so jobs nobody can run do not block the ones behind them. */
export function headLimit(freeSlots: number): number {
  return Math.min(5000, freeSlots * 4 + 16);
}

/** A provider far over its fair share takes no more industrial work until its usage decays. */
export function providerSaturated(
  usage: PartyUsage | undefined,
  capacity: number,
  nowMs: number,
  params: SchedulerParams,
): boolean {
  if (!params.admission_enabled) return false;
  const u = decayUsage(usage, nowMs, params);
  return u.usage >= fairShareCap(capacity, params) && u.burst < 1;
}

/**
 * What the comfort guard looks at in the consumer lane: how many jobs wait and how long the
 * oldest has waited, counting only jobs some connected provider with an offer could run. A job
 * nobody serves (an inference model no one has) waits for a provider, not for capacity, and
 * must not make the market tight and hold every buyer's industrial work back.
 */
export function consumerPressure(
  head: readonly TickJob[],
  providers: readonly Provider[],
  nowMs: number,
): { queued: number; ageSecs: number } {
  const offered = providers.filter((p) => p.pricePerUnit !== null);
  let queued = 0;
  let ageSecs = 0;
  for (const job of head) {
    if (!offered.some((p) => capabilityProblem(p.capability, job) === null)) continue;
    queued++;
    ageSecs = Math.max(ageSecs, (nowMs - job.enqueuedAtMs) / 1000);
  }
  return { queued, ageSecs };
}

export function planTick(snapshot: TickSnapshot, params: SchedulerParams, seed: number): TickPlan {
  const { nowMs: now, providers } = snapshot;
  const byId = new Map<string, TickJob>();
  for (const j of snapshot.heads.consumer) byId.set(j.jobId, j);
  const deferredLane = snapshot.mode === 'tight';
  if (!deferredLane) for (const j of snapshot.heads.industrial) byId.set(j.jobId, j);
  const plan: TickPlan = { leases: [], reasons: new Map(), usage: new Map(), deferredLane };
  const running = { ...snapshot.running };
  const priceOf = new Map(providers.map((p) => [p.address, p.pricePerUnit ?? 0n]));

  const consumer = planMatches(snapshot.heads.consumer, providers, { params, running, seed });
  for (const [jobId, reason] of consumer.reasons) plan.reasons.set(jobId, reason);
  const assignments: Assignment[] = [...consumer.assignments];

  if (!deferredLane) {
    const left = reserve(providers, consumer.assignments, byId, running);
    const open = left.map((p) =>
      providerSaturated(p.usage, snapshot.capacity, now, params) || (p.unbondableUntil ?? 0) > now
        ? { ...p, freeSlots: 0 }
        : p,
    );
    const industrial = planMatches(snapshot.heads.industrial, open, { params, running, seed });
    for (const [jobId, reason] of industrial.reasons) plan.reasons.set(jobId, reason);
    const usage = new Map(providers.map((p) => [p.address, p.usage]));
    for (const a of industrial.assignments) {
      const units = byId.get(a.jobId)?.units ?? 0;
      if (params.admission_enabled) {
        const check = checkParties([usage.get(a.address)], units, snapshot.capacity, now, params);
        if (!check.ok) {
          plan.reasons.set(a.jobId, 'deferred');
          continue;
        }
        const charged = check.parties[0] as PartyUsage;
        usage.set(a.address, charged);
        plan.usage.set(a.address, charged);
      }
      assignments.push(a);
    }
  }

  const leaseExpiresAtMs = now + snapshot.leaseMs;
  for (const a of assignments) {
    const job = byId.get(a.jobId);
    if (!job) continue;
    const lane = laneOf(job.challengeType, params);
    const quotePerUnit = priceOf.get(a.address) ?? 0n;
    const bonded = params.sla_bond_pct > 0 && needsBond(lane, job.deadlineMs, now, snapshot.leaseMs);
    plan.leases.push({
      ...a,
      taskId: job.taskId,
      lane,
      units: job.units,
      quotePerUnit,
      bond: bonded ? bondFor(quotePerUnit, job.units, params.sla_bond_pct) : 0n,
      leaseExpiresAtMs,
      priorityMiss: priorityMiss(job, now, params),
    });
  }

  // A head job the plan never reached (every usable slot was taken first) waits for capacity:
  // every job looked at has a reason.
  const leased = new Set(plan.leases.map((l) => l.jobId));
  for (const jobId of byId.keys())
    if (!leased.has(jobId) && !plan.reasons.has(jobId)) plan.reasons.set(jobId, 'no_capacity');
  return plan;
}

/** The providers with a plan's slots and units taken, and the running counts with its jobs added. */
function reserve(
  providers: readonly TickProvider[],
  assignments: readonly Assignment[],
  jobs: ReadonlyMap<string, { units: number; priority?: string | undefined }>,
  running: { total: number; low: number },
): TickProvider[] {
  const taken = new Map<string, { slots: number; units: number }>();
  for (const a of assignments) {
    const job = jobs.get(a.jobId);
    const t = taken.get(a.address) ?? { slots: 0, units: 0 };
    t.slots++;
    t.units += job?.units ?? 0;
    taken.set(a.address, t);
    running.total++;
    if (job?.priority === 'low') running.low++;
  }
  return providers.map((p) => {
    const t = taken.get(p.address);
    return t ? { ...p, freeSlots: p.freeSlots - t.slots, freeUnits: p.freeUnits - t.units } : p;
  });
}
