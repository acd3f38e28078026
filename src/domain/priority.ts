// Priority and aging (spec "Priority and Aging"): queued jobs are ordered by priority, then by
// arrival, and waiting raises a job's effective priority by one level per aging_seconds_per_level,
// so old low work eventually outranks fresh high work and nothing waits forever.
//
// Effective priority at time t is level + (t − arrival)/aging. Comparing two jobs, t cancels out:
// a runs first iff arrival_a − level_a·aging < arrival_b − level_b·aging. That "aged key" never
// changes while a job waits, so the order is fixed at enqueue: three FIFO queues (one per level)
// merged by their heads' keys give O(1) push and pop, with no re-sorting as time passes.

import type { SchedulerParams } from './scheduler-params.js';

export const PRIORITIES = ['low', 'normal', 'high'] as const;
export type Priority = (typeof PRIORITIES)[number];

export const PRIORITY_LEVEL: Readonly<Record<Priority, number>> = { low: 0, normal: 1, high: 2 };

export function isPriority(value: unknown): value is Priority {
  return typeof value === 'string' && (PRIORITIES as readonly string[]).includes(value);
}

export interface Queued {
  readonly id: string;
  readonly priority: Priority;
  /** When the job first became runnable; a job put back after an expired lease keeps it. */
  readonly enqueuedAtMs: number;
  /** Arrival order (the store's insertion sequence): breaks ties between equal times. */
  readonly seq: number;
}

/** The fixed sort key: lower runs first. */
export function agedKey(job: Queued, params: SchedulerParams): number {
  return job.enqueuedAtMs - PRIORITY_LEVEL[job.priority] * params.aging_seconds_per_level * 1000;
}

/** Effective priority now, for display and stats: the level plus the levels earned by waiting. */
export function effectivePriority(job: Queued, nowMs: number, params: SchedulerParams): number {
  const waited = Math.max(0, nowMs - job.enqueuedAtMs) / 1000;
  return PRIORITY_LEVEL[job.priority] + waited / params.aging_seconds_per_level;
}

/** Queue order: aged key, then the higher level (a tie means equal effective priority), then seq. */
export function compareQueued(a: Queued, b: Queued, params: SchedulerParams): number {
  return (
    agedKey(a, params) - agedKey(b, params) ||
    PRIORITY_LEVEL[b.priority] - PRIORITY_LEVEL[a.priority] ||
    a.seq - b.seq
  );
}

/** scheduler_priority_miss_total: a normal or high job that waited longer than priority_miss_seconds. */
export function priorityMiss(job: Queued, startedAtMs: number, params: SchedulerParams): boolean {
  return job.priority !== 'low' && startedAtMs - job.enqueuedAtMs > params.priority_miss_seconds * 1000;
}

/** Within one level, arrival order is the aged order. */
function fifoBefore(a: Queued, b: Queued): boolean {
  return a.enqueuedAtMs < b.enqueuedAtMs || (a.enqueuedAtMs === b.enqueuedAtMs && a.seq < b.seq);
}

/** One enqueueing of a job; a job put back later gets a fresh node, so stale slots stay dead. */
interface Node<T> {
  readonly job: T;
  alive: boolean;
}

/**
 * The queue of waiting jobs. Appending in arrival order is O(1); a job older than the tail of its
 * level (one put back after a lease expired, or a clock that stepped back) is inserted in place.
 * Removal (cancel, or a job leased) is lazy: it is skipped when it reaches the head.
 */
export class PriorityQueue<T extends Queued> {
  private readonly levels: { nodes: Node<T>[]; head: number }[] = PRIORITIES.map(() => ({
    nodes: [],
    head: 0,
  }));
  private readonly live = new Map<string, Node<T>>();
  private readonly counts = [0, 0, 0];

  constructor(private params: SchedulerParams) {}

  /** New parameters apply to the whole queue at once: the per-level order does not depend on them. */
  setParams(params: SchedulerParams): void {
    this.params = params;
  }

  get size(): number {
    return this.live.size;
  }

  has(id: string): boolean {
    return this.live.has(id);
  }

  get(id: string): T | undefined {
    return this.live.get(id)?.job;
  }

  push(job: T): void {
    if (this.live.has(job.id)) throw new Error(`job ${job.id} is already queued`);
    const node: Node<T> = { job, alive: true };
    this.live.set(job.id, node);
    const l = PRIORITY_LEVEL[job.priority];
    this.counts[l]!++;
    const level = this.levels[l]!;
    const nodes = level.nodes;
    const last = nodes[nodes.length - 1];
    if (nodes.length === level.head || !last || !fifoBefore(job, last.job)) {
      nodes.push(node);
      return;
    }
    let lo = level.head;
    let hi = nodes.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (fifoBefore(job, nodes[mid]!.job)) hi = mid;
      else lo = mid + 1;
    }
    nodes.splice(lo, 0, node);
  }

  remove(id: string): T | undefined {
    const node = this.live.get(id);
    if (!node) return undefined;
    node.alive = false;
    this.live.delete(id);
    this.counts[PRIORITY_LEVEL[node.job.priority]]!--;
    return node.job;
  }

  /** Drops removed jobs from the front of a level, compacting it now and then. */
  private front(l: number): T | undefined {
    const level = this.levels[l]!;
    while (level.head < level.nodes.length && !level.nodes[level.head]!.alive) level.head++;
    if (level.head > 1024 && level.head * 2 > level.nodes.length) {
      level.nodes = level.nodes.slice(level.head);
      level.head = 0;
    }
    return level.nodes[level.head]?.job;
  }

  peek(): T | undefined {
    let best: T | undefined;
    for (let l = 0; l < this.levels.length; l++) {
      const job = this.front(l);
      if (job && (!best || compareQueued(job, best, this.params) < 0)) best = job;
    }
    return best;
  }

  pop(): T | undefined {
    const job = this.peek();
    if (job) this.remove(job.id);
    return job;
  }

  /**
   * Waiting jobs in queue order without removing them, lazily: taking the first k costs O(k), so
   * the scheduler can plan the head of a million-job queue and leave the rest alone. Removing jobs
   * while iterating is fine; pushing or popping is not (it may shift what is still to come).
   */
  *ordered(): Generator<T> {
    const idx: number[] = [];
    for (let l = 0; l < this.levels.length; l++) {
      this.front(l);
      idx.push(this.levels[l]!.head);
    }
    for (;;) {
      let best: T | undefined;
      let bestLevel = -1;
      for (let l = 0; l < idx.length; l++) {
        const nodes = this.levels[l]!.nodes;
        let i = idx[l]!;
        while (i < nodes.length && !nodes[i]!.alive) i++;
        idx[l] = i;
        const job = nodes[i]?.job;
        if (job && (!best || compareQueued(job, best, this.params) < 0)) {
          best = job;
          bestLevel = l;
        }
      }
      if (!best) return;
      idx[bestLevel]!++;
      yield best;
    }
  }

  /** Queue depth per priority, for compute_market.scheduler_stats. */
  depths(): Record<Priority, number> {
    return { low: this.counts[0]!, normal: this.counts[1]!, high: this.counts[2]! };
  }
}
