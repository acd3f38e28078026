// Request budgets: one token bucket per authenticated account (the operator counts as one), and
// one per client address that is drawn only by failed authentication. A made-up key never gets
// a bucket of its own: it fails authentication and draws on its address's failure budget, so
// rotating keys buys nothing and evicts nobody.

import { take, type Bucket } from '../domain/token-bucket.js';

/** More distinct keys than this and the buckets that have refilled are swept. */
const MAX_BUCKETS = 50_000;

export class Buckets {
  private readonly map = new Map<string, Bucket>();

  constructor(private readonly perSecond: number) {}

  /** Takes a token for `key`; false when its bucket is empty. */
  take(key: string, nowMs: number): boolean {
    const result = take(this.map.get(key), nowMs, this.perSecond, this.perSecond);
    this.map.delete(key);
    this.map.set(key, result.bucket);
    if (this.map.size > MAX_BUCKETS) this.sweep(nowMs);
    return result.ok;
  }

  /** Whether `key` has a token left, without taking it. */
  has(key: string, nowMs: number): boolean {
    const bucket = this.map.get(key);
    return bucket === undefined || this.refilled(bucket, nowMs) >= 1;
  }

  get size(): number {
    return this.map.size;
  }

  private refilled(bucket: Bucket, nowMs: number): number {
    return Math.min(
      this.perSecond,
      bucket.tokens + (Math.max(0, nowMs - bucket.atMs) * this.perSecond) / 1000,
    );
  }

  /**
   * A full bucket carries no state (a new one starts full), so dropping it forgives nothing.
   * Only when every bucket is still draining are the least recently used dropped: that takes
   * more distinct authenticated accounts or client addresses than MAX_BUCKETS, each limited.
   */
  private sweep(nowMs: number): void {
    for (const [key, bucket] of this.map)
      if (this.refilled(bucket, nowMs) >= this.perSecond) this.map.delete(key);
    // Down to 90% so that the next sweep is many insertions away.
    for (const key of this.map.keys()) {
      if (this.map.size <= MAX_BUCKETS * 0.9) break;
      this.map.delete(key);
    }
  }
}
