// A seeded random source wherever a fixed sequence is wanted: the chain adapters' failure
// injection (a courier test that fails "30% of calls" fails the same calls on every run), the
// tiny test model's weights, the scheduler bench's market.

/** Uniform in [0, 1). */
export type Rng = () => number;

/** mulberry32: tiny, fast and well-distributed enough for faults and fixed weights; not for keys. */
export function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
