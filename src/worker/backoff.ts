// Reconnect delays: exponential from an initial delay, doubling to a cap, with "equal jitter"
// (half the step fixed, half random) so a market restart is not met by every worker at the
// same instant, yet no worker retries almost immediately in a tight loop.

export interface BackoffOptions {
  initialDelayMs: number;
  maxDelayMs: number;
  /** Uniform in [0, 1); injectable so tests get exact delays. */
  random?: () => number;
}

export class Backoff {
  private attempt = 0;

  constructor(private readonly opts: BackoffOptions) {}

  /** The delay before the next attempt; each call doubles the step up to the cap. */
  next(): number {
    const step = Math.min(this.opts.maxDelayMs, this.opts.initialDelayMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    const random = this.opts.random ?? Math.random;
    return Math.round(step / 2 + (random() * step) / 2);
  }

  /** Attempts since the last reset. */
  get attempts(): number {
    return this.attempt;
  }

  /** After a connection the market accepted: the next failure starts from the beginning. */
  reset(): void {
    this.attempt = 0;
  }
}
