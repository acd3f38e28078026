// What the market knows of each connected worker. The gateway (src/api) creates sessions; the
// dispatcher reads them to match jobs and writes them as leases come and go.

import type { MatchCapability } from '../domain/matcher.js';
import type { Priority } from '../domain/priority.js';
import type { Capability } from '../domain/schemas/capability.js';
import type { MarketMessage } from '../domain/schemas/worker.js';
import type { ShownWork } from '../domain/verification.js';
import type { QueuedJob } from '../store/jobs.js';

export interface SessionOffer {
  offerId: string;
  pricePerUnit: bigint;
  units: number;
  /** The session's capability with the offer's fee_pct_ct: what matching compares jobs with. */
  capability: MatchCapability;
}

/** A running job as leased, with when it started: what checking its result needs (src/market/verification.ts). */
export type CheckedJob = QueuedJob & { started_at_ms: number | null };

export interface RunningJob {
  challengeType: string;
  units: number;
  slices: number;
  taskId: string;
  startedAtMs: number;
  priority: Priority;
  /** When the lease ends as last written to the store (ms). */
  leaseExpiresAtMs: number;
  /** When the worker last said it still runs the job (a heartbeat listing it), ms. */
  confirmedAtMs: number;
  /** What checking its result needs, kept from the lease so the result path reads nothing first. */
  checked: CheckedJob;
}

/** What the market has seen of a connected provider's work (src/domain/verification.ts). */
export interface SessionTrust extends ShownWork {
  /** It was caught delivering a wrong result: it gets no more work. */
  fraud: boolean;
  /** Challenge types it rests after a failure on probation, and until when (ms). */
  cooldowns: Record<string, number>;
}

export interface Session {
  readonly address: string;
  readonly publicKey: string;
  readonly capability: Capability;
  /** Slots the worker has in all: its free slots plus the jobs it runs, as it last said. */
  slots: number;
  offer: SessionOffer | null;
  /** Jobs leased to this worker through this connection. */
  readonly running: Map<string, RunningJob>;
  /** Loaded when it registers; absent until then (a new provider). */
  trust?: SessionTrust;
  send(message: MarketMessage): void;
  close(code: number, reason: string): void;
}

export function freeSlots(s: Session): number {
  return Math.max(0, s.slots - s.running.size);
}

export function freeUnits(s: Session): number {
  if (!s.offer) return 0;
  let used = 0;
  for (const j of s.running.values()) used += j.units;
  return Math.max(0, s.offer.units - used);
}
