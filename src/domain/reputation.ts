// Provider reputation: an integer score in [-1000, 1000] per provider that rises on verified work
// and falls on failures, provider-side cancels and expired leases, decays toward zero while the
// provider is idle, and is forgotten after the retention period. It maps to the offer's
// reputation_multiplier, and peers merge each other's scores by epoch (spec "Reputation Gossip").
// Pure data: the market keeps the entries (and persists them); `now` always comes in.

import { toPpm } from './pricing.js';
import { REPUTATION_MAX, REPUTATION_MIN, type SchedulerParams } from './scheduler-params.js';

export interface ReputationEntry {
  /** Integer score as of `updatedAtMs`; read it through `currentScore`, which applies decay. */
  readonly score: number;
  /** Bumped on every local change; gossip only replaces a score with a higher epoch. */
  readonly epoch: number;
  readonly updatedAtMs: number;
}

export const OUTCOMES = [
  'success',
  'failure',
  'provider_cancel',
  'lease_expired',
  'client_cancel',
  // A result proved wrong (src/domain/verification.ts): the score goes to the bottom.
  'fraud',
  // A customer disputed a result nothing can re-derive: its word alone, so a small cost.
  'disputed',
] as const;
export type Outcome = (typeof OUTCOMES)[number];

const HOUR_MS = 3_600_000;

export function clampScore(score: number): number {
  const s = Math.round(Math.min(REPUTATION_MAX, Math.max(REPUTATION_MIN, score)));
  return s === 0 ? 0 : s; // never -0: scores are compared and serialised
}

/**
 * A new provider starts at 0: neutral, so it qualifies (non-negative) but earns no discount.
 * The spec lets an offer advertise a starting score; a caller that trusts it passes it here.
 */
export function newEntry(nowMs: number, score = 0): ReputationEntry {
  return { score: clampScore(score), epoch: 0, updatedAtMs: nowMs };
}

/**
 * The score decayed to `nowMs`: it loses `provider_reputation_decay` of itself per hour,
 * compounding, so good and bad standing both fade unless renewed by fresh work. Rounded to the
 * nearest integer, which never moves a score away from zero. A clock that went backwards decays
 * nothing.
 */
export function currentScore(
  entry: ReputationEntry | undefined,
  nowMs: number,
  params: SchedulerParams,
): number {
  if (!entry) return 0;
  const hours = Math.max(0, nowMs - entry.updatedAtMs) / HOUR_MS;
  if (hours === 0 || entry.score === 0) return entry.score;
  return clampScore(entry.score * Math.pow(1 - params.provider_reputation_decay, hours));
}

/** How an outcome moves the score. A client's cancel is never the provider's fault. */
export function outcomeDelta(outcome: Outcome, params: SchedulerParams): number {
  switch (outcome) {
    case 'success':
      return params.reputation_success_delta;
    case 'failure':
      return -params.reputation_failure_penalty;
    case 'provider_cancel':
      return -params.reputation_provider_cancel_penalty;
    case 'lease_expired':
      return -params.reputation_lease_expiry_penalty;
    case 'client_cancel':
      return 0;
    case 'fraud':
      return REPUTATION_MIN - REPUTATION_MAX;
    case 'disputed':
      return -params.reputation_dispute_penalty;
  }
}

/**
 * Applies an outcome at `nowMs`: decay first (the delta counts in full), then the delta, bounded.
 * A neutral outcome returns the entry untouched, so it neither changes the epoch nor resets decay.
 */
export function adjust(
  entry: ReputationEntry | undefined,
  outcome: Outcome,
  nowMs: number,
  params: SchedulerParams,
): ReputationEntry {
  const delta = outcomeDelta(outcome, params);
  if (delta === 0) return entry ?? newEntry(nowMs);
  const now = currentScore(entry, nowMs, params);
  // A customer's word alone takes back earned standing but never takes a provider below zero
  // (out of work): otherwise one dispute would silence any new provider.
  const score = outcome === 'disputed' ? Math.min(now, Math.max(0, now + delta)) : now + delta;
  return {
    score: clampScore(score),
    epoch: (entry?.epoch ?? 0) + 1,
    updatedAtMs: Math.max(nowMs, entry?.updatedAtMs ?? nowMs),
  };
}

/** An entry untouched for longer than the retention period is dropped; the provider starts again at 0. */
export function isForgotten(entry: ReputationEntry, nowMs: number, params: SchedulerParams): boolean {
  return nowMs - entry.updatedAtMs > params.provider_reputation_retention * 1000;
}

/**
 * reputation_multiplier in ppm. Lower is better: effective price = price × multiplier and the
 * lowest effective price wins, so trust must lower it. Scores 0…1000 map linearly from
 * reputation_multiplier_max down to reputation_multiplier_min; negative scores get the max (such
 * providers do not qualify anyway). With the 0.5–1.0 defaults, score 400 gives 0.8.
 */
export function multiplierPpm(score: number, params: SchedulerParams): number {
  const max = toPpm(params.reputation_multiplier_max);
  const min = toPpm(params.reputation_multiplier_min);
  const s = Math.min(REPUTATION_MAX, Math.max(0, score));
  return max - Math.round(((max - min) * s) / REPUTATION_MAX);
}

/** A running job moves to a new provider only when that one leads by at least preempt_min_delta. */
export function shouldPreempt(
  currentProviderScore: number,
  candidateScore: number,
  params: SchedulerParams,
): boolean {
  return params.enable_preempt && candidateScore - currentProviderScore >= params.preempt_min_delta;
}

export interface GossipEntry {
  score: number;
  epoch: number;
}

export type GossipResult = { applied: true; entry: ReputationEntry } | { applied: false };

/**
 * Merges a peer's (score, epoch) per spec "Reputation Gossip": it replaces the local entry only when
 * its epoch is greater and its score is a whole number within [-1000, 1000]. The applied score
 * starts decaying from `nowMs`, since the tuple carries no time of its own.
 */
export function mergeGossip(
  local: ReputationEntry | undefined,
  incoming: GossipEntry,
  nowMs: number,
): GossipResult {
  const { score, epoch } = incoming;
  if (!Number.isInteger(score) || score < REPUTATION_MIN || score > REPUTATION_MAX) return { applied: false };
  if (!Number.isSafeInteger(epoch) || epoch < 0) return { applied: false };
  if (local && epoch <= local.epoch) return { applied: false };
  // An epoch far ahead of ours is a peer pinning the score (no later change could outrank it).
  if (epoch - (local?.epoch ?? 0) > MAX_EPOCH_JUMP) return { applied: false };
  return { applied: true, entry: { score: clampScore(score), epoch, updatedAtMs: nowMs } };
}

/** How far ahead of the local epoch a gossiped one may be: a million changes is a lot of history. */
export const MAX_EPOCH_JUMP = 1_000_000;
