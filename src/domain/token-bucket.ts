// A token bucket: `capacity` tokens, refilled at `ratePerSec`; each request takes one.
// Pure: the caller passes the time and keeps the state.

export interface Bucket {
  tokens: number;
  atMs: number;
}

export function take(
  bucket: Bucket | undefined,
  nowMs: number,
  capacity: number,
  ratePerSec: number,
): { ok: boolean; bucket: Bucket } {
  const prev = bucket ?? { tokens: capacity, atMs: nowMs };
  // A clock that went backwards refills nothing rather than draining the bucket.
  const elapsed = Math.max(0, nowMs - prev.atMs);
  const tokens = Math.min(capacity, prev.tokens + (elapsed * ratePerSec) / 1000);
  if (tokens < 1) return { ok: false, bucket: { tokens, atMs: Math.max(nowMs, prev.atMs) } };
  return { ok: true, bucket: { tokens: tokens - 1, atMs: Math.max(nowMs, prev.atMs) } };
}
