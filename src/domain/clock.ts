// Time comes in through a Clock so every rule can be tested with exact numbers.

export interface Clock {
  /** Milliseconds since the Unix epoch. */
  nowMs(): number;
}

export const systemClock: Clock = {
  // eslint-disable-next-line no-restricted-syntax -- the one place wall time enters the market
  nowMs: () => Date.now(),
};

/** Whole seconds: what the wire and signed messages carry. The schema stores milliseconds. */
export function unixSeconds(clock: Clock): number {
  return secondsOf(clock.nowMs());
}

/** A stored Unix-ms time as the API's Unix seconds (stored times that came in as seconds are exact). */
export function secondsOf(ms: number): number {
  return Math.floor(ms / 1000);
}

/** A clock tests move by hand, forwards or backwards. */
export class ManualClock implements Clock {
  constructor(private ms: number) {}
  nowMs(): number {
    return this.ms;
  }
  set(ms: number): void {
    this.ms = ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}
