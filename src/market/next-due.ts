// When a loop that works on stored due times (deadlines, webhook looks, deliveries) next has
// something to do, as this node knows it. A read of the database sets it (and sees other nodes'
// work); what this node creates lowers it at once. A loop reads only when something is due, or at
// its slower fallback poll where other nodes may share the database (issue #15: no idle sweeps).
//
// A lowering made while a read runs is kept: the read may have started before the work it
// announces was committed, so its answer alone could hide it.

export class NextDue {
  /** Unknown at start: due at once, so the first round reads. */
  private at = Number.NEGATIVE_INFINITY;
  private lowered: number | undefined;

  /** Something is due at `ms` (this node created or rescheduled it). */
  lower(ms: number): void {
    this.at = Math.min(this.at, ms);
    if (this.lowered !== undefined) this.lowered = Math.min(this.lowered, ms);
  }

  due(nowMs: number): boolean {
    return this.at <= nowMs;
  }

  /** Whether anything waits at all (or may: unknown counts as waiting). */
  waiting(): boolean {
    return this.at < Number.POSITIVE_INFINITY;
  }

  /** Call before reading the earliest due time from the database. */
  reading(): void {
    this.lowered = Number.POSITIVE_INFINITY;
  }

  /** What the read found (null: nothing waits), with what was lowered while it ran. */
  read(ms: number | null): void {
    this.at = Math.min(ms ?? Number.POSITIVE_INFINITY, this.lowered ?? Number.POSITIVE_INFINITY);
    this.lowered = undefined;
  }

  /** Forget what is known: the next round reads. */
  unknown(): void {
    this.at = Number.NEGATIVE_INFINITY;
  }
}
