// Reputation gossip (spec "Reputation Gossip"): this node's side of the exchange of provider
// scores with peer markets. Receiving merges each (provider_id, reputation_score, epoch) tuple by
// the domain rule (a higher epoch and a score in [-1000, 1000] win) and stores the winners with a
// conditional write; sending posts the stored snapshot to each peer, authenticated with peer_key.
//
// Peers share one secret, `peer_key`, that is good for `reputation.gossip` and nothing else, so a
// peer can never act as this node's operator. The dispatcher caches scores, so each applied entry
// is announced as 'reputation.gossiped' for it to take.

import type { Logger } from 'pino';
import { ApiError, TaskMarketClient } from '../client/client.js';
import { MarketError } from '../domain/errors.js';
import { isValidAddress } from '../domain/identity.js';
import { currentScore, mergeGossip, type ReputationEntry } from '../domain/reputation.js';
import type { SchedulerParams } from '../domain/scheduler-params.js';
import { MAX_GOSSIP_ENTRIES, type GossipEntry } from '../domain/schemas/reputation.js';
import type { Clock } from '../domain/clock.js';
import type { Db } from '../store/db.js';
import { listReputation, loadReputations, saveGossipedReputation } from '../store/reputation.js';
import { peerList, type Config } from './config.js';
import type { MarketEventBus } from './events.js';

/**
 * Entries per message a sender posts: about 110 bytes each in JSON, so a message stays well under
 * the default 1 MiB body limit. The receiver takes up to MAX_GOSSIP_ENTRIES.
 */
export const GOSSIP_CHUNK = 2_000;

export interface GossipCounts {
  applied: number;
  ignored: number;
}

export type PeerResult = ({ ok: true } & GossipCounts) | { ok: false; error: string };

export class ReputationGossip {
  private rounding = false;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly events: MarketEventBus,
    private readonly params: () => SchedulerParams,
    private readonly config: Pick<Config, 'peers' | 'peer_key'>,
    private readonly logger: Logger,
  ) {}

  /** Refuses while the operator has opted out of the protocol. */
  assertEnabled(): void {
    if (!this.params().reputation_gossip)
      throw new MarketError(
        'forbidden',
        'reputation gossip is off on this node (scheduler parameter reputation_gossip = false)',
      );
  }

  /** Applies a peer's message; entries already validated against the GossipParams schema. */
  async receive(entries: readonly GossipEntry[]): Promise<GossipCounts> {
    this.assertEnabled();
    if (entries.length > MAX_GOSSIP_ENTRIES)
      throw new MarketError('validation_error', `at most ${MAX_GOSSIP_ENTRIES} entries per message`);
    const nowMs = this.clock.nowMs();
    const result = await this.db.transaction(async (tx) => {
      const current = await loadReputations(tx, [...new Set(entries.map((e) => e.provider_id))]);
      // Merged in message order against the running state, so of two tuples for one provider only
      // a later, higher epoch also applies; the store then gets one winner per provider.
      const accepted: boolean[] = [];
      const winners = new Map<string, ReputationEntry>();
      for (const e of entries) {
        const merged = mergeGossip(
          current.get(e.provider_id),
          { score: e.reputation_score, epoch: e.epoch },
          nowMs,
        );
        accepted.push(merged.applied);
        if (merged.applied) {
          current.set(e.provider_id, merged.entry);
          winners.set(e.provider_id, merged.entry);
        }
      }
      const written = await saveGossipedReputation(
        tx,
        [...winners].map(([address, entry]) => ({ address, entry })),
      );
      return { accepted, winners, written };
    });
    let applied = 0;
    entries.forEach((e, i) => {
      // An entry whose provider's conditional write lost a race counts as ignored.
      if (result.accepted[i] && result.written.has(e.provider_id)) applied++;
    });
    for (const [address, entry] of result.winners)
      if (result.written.has(address)) this.events.emit('reputation.gossiped', { address, entry });
    const counts = { applied, ignored: entries.length - applied };
    this.events.emit('reputation.gossip_received', counts);
    if (applied > 0) this.logger.info(counts, 'reputation gossip applied');
    return counts;
  }

  /** Every stored entry as a gossip tuple, its score decayed to now (the tuple carries no time). */
  async snapshot(): Promise<GossipEntry[]> {
    const nowMs = this.clock.nowMs();
    const params = this.params();
    return (await listReputation(this.db)).map(({ address, entry }) => ({
      provider_id: address,
      reputation_score: currentScore(entry, nowMs, params),
      epoch: entry.epoch,
    }));
  }

  /** One round: the snapshot to each peer (the configured ones unless given), per-peer results. */
  async sync(peers: readonly string[] = peerList(this.config)): Promise<Record<string, PeerResult>> {
    this.assertEnabled();
    if (this.config.peer_key === '')
      throw new MarketError('unavailable', 'no peer_key configured: peers would refuse this node');
    const entries = await this.snapshot();
    const results: Record<string, PeerResult> = {};
    await Promise.all(
      peers.map(async (raw) => {
        const peer = raw.replace(/\/+$/, '');
        results[peer] = await sendGossip(peer, this.config.peer_key, entries);
      }),
    );
    return results;
  }

  /** The background round: skipped while off, never two at once, failures logged per peer. */
  async autoRound(): Promise<void> {
    if (this.rounding || !this.params().reputation_gossip || peerList(this.config).length === 0) return;
    this.rounding = true;
    try {
      for (const [peer, r] of Object.entries(await this.sync())) {
        if (r.ok)
          this.logger.debug({ peer, applied: r.applied, ignored: r.ignored }, 'reputation gossip sent');
        else this.logger.warn({ peer, error: r.error }, 'reputation gossip to peer failed');
      }
    } finally {
      this.rounding = false;
    }
  }
}

/** Posts entries to one peer's /rpc in chunks; the first failing chunk ends that peer's round. */
export async function sendGossip(
  peerUrl: string,
  peerKey: string,
  entries: readonly GossipEntry[],
  options: { timeoutMs?: number } = {},
): Promise<PeerResult> {
  const client = new TaskMarketClient({
    url: peerUrl,
    apiKey: peerKey,
    timeoutMs: options.timeoutMs ?? 10_000,
  });
  const total: GossipCounts = { applied: 0, ignored: 0 };
  try {
    for (let at = 0; at < entries.length || at === 0; at += GOSSIP_CHUNK) {
      const r = await client.request<GossipCounts>('POST', '/rpc', {
        method: 'reputation.gossip',
        params: { entries: entries.slice(at, at + GOSSIP_CHUNK) },
      });
      total.applied += r.applied;
      total.ignored += r.ignored;
    }
  } catch (err) {
    const message = err instanceof ApiError ? `${err.code}: ${err.message}` : (err as Error).message;
    return { ok: false, error: message };
  }
  return { ok: true, ...total };
}

/** Whether a tuple's provider_id is a well-formed address (the schema only bounds its length). */
export function badProviderIds(entries: readonly GossipEntry[]): number[] {
  const bad: number[] = [];
  entries.forEach((e, i) => {
    if (!isValidAddress(e.provider_id)) bad.push(i);
  });
  return bad;
}
