// Reconnect delays, in exact numbers (the jitter source is injected).

import { describe, expect, it } from 'vitest';
import { Backoff } from '../../src/worker/backoff.js';

describe('reconnect backoff', () => {
  it('doubles from the initial delay to the cap, half fixed and half jitter', () => {
    const at = (r: number) => new Backoff({ initialDelayMs: 500, maxDelayMs: 30_000, random: () => r });
    const low = at(0);
    expect(Array.from({ length: 9 }, () => low.next())).toEqual([
      250, 500, 1000, 2000, 4000, 8000, 15_000, 15_000, 15_000,
    ]);
    const high = at(0.999_999);
    expect(Array.from({ length: 8 }, () => high.next())).toEqual([
      500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000,
    ]);
  });

  it('starts over after a reset', () => {
    const b = new Backoff({ initialDelayMs: 100, maxDelayMs: 1000, random: () => 0.5 });
    b.next();
    b.next();
    expect(b.attempts).toBe(2);
    b.reset();
    expect(b.next()).toBe(75);
  });
});
