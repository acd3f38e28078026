// Which leases carry an SLA bond, and how large (spec "Industrial Admission & Fee Lanes":
// penalize_sla). The ledger moves are in src/market/bonds.ts.

import type { Lane } from '../scheduler-params.js';

/** The bond on a job: pct of its price, rounded down to the base unit. */
export function bondFor(pricePerUnit: bigint, units: number, pct: number): bigint {
  return (pricePerUnit * BigInt(units) * BigInt(pct)) / 100n;
}

/**
 * An industrial job is bonded, unless its deadline (Unix ms) is less than a lease away: no
 * provider could be fairly held to a deadline it had no time to meet.
 */
export function needsBond(lane: Lane, deadlineMs: number | null, nowMs: number, leaseMs: number): boolean {
  return lane === 'industrial' && (deadlineMs === null || deadlineMs - nowMs >= leaseMs);
}
