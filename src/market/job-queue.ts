// The scheduler's in-memory queue: one priority queue (src/domain/priority.ts) per lane, holding
// what matching needs of every queued job this node knows of. The store stays the truth: a job
// planned from here is leased only by a conditional update, so an entry that went stale (leased
// by another node, cancelled) is refused at commit and dropped.

import { laneOf } from '../domain/admission.js';
import { jobBudget, type JobNeed } from '../domain/matcher.js';
import { PriorityQueue, type Priority, type Queued } from '../domain/priority.js';
import type { Lane, SchedulerParams } from '../domain/scheduler-params.js';
import type { Requirements } from '../domain/schemas/capability.js';
import type { QueueEntry } from '../store/queue.js';

export interface QueuedNeed extends Queued, Omit<JobNeed, 'priority'> {
  readonly priority: Priority;
  readonly taskId: string;
  readonly queuedAt: number;
  /** The task's deadline, Unix ms, or null. */
  readonly deadlineMs: number | null;
}

export class JobQueue {
  private lanes: Record<Lane, PriorityQueue<QueuedNeed>>;
  private readonly byTask = new Map<string, Set<string>>();
  /** Arrival order among jobs queued in the same millisecond. */
  private seq = 0;

  constructor(private params: SchedulerParams) {
    this.lanes = { consumer: new PriorityQueue(params), industrial: new PriorityQueue(params) };
  }

  get size(): number {
    return this.lanes.consumer.size + this.lanes.industrial.size;
  }

  sizeOf(lane: Lane): number {
    return this.lanes[lane].size;
  }

  has(jobId: string): boolean {
    return this.lanes.consumer.has(jobId) || this.lanes.industrial.has(jobId);
  }

  /** Adds entries it does not hold yet; returns how many were new. */
  add(entries: readonly QueueEntry[]): number {
    let added = 0;
    for (const e of entries) {
      if (this.has(e.job_id)) continue;
      const need: QueuedNeed = {
        id: e.job_id,
        jobId: e.job_id,
        taskId: e.task_id,
        challengeType: e.challenge_type,
        model: e.challenge_type === 'inference' ? String(e.model_id) : undefined,
        requirements: e.requirements as Requirements | null,
        units: e.units,
        budget: jobBudget(BigInt(e.reward), e.units, e.task_units),
        priority: e.priority,
        feePctCt: e.fee_pct_ct,
        excluded: e.excluded?.length ? e.excluded : undefined,
        runnerId: e.runner_id ?? undefined,
        enqueuedAtMs: Number(e.queued_at_ms),
        queuedAt: Number(e.queued_at_ms),
        deadlineMs: e.deadline_ms === null ? null : Number(e.deadline_ms),
        seq: ++this.seq,
      };
      this.lanes[laneOf(e.challenge_type, this.params)].push(need);
      let jobs = this.byTask.get(e.task_id);
      if (!jobs) this.byTask.set(e.task_id, (jobs = new Set()));
      jobs.add(e.job_id);
      added++;
    }
    return added;
  }

  remove(jobIds: Iterable<string>): void {
    for (const id of jobIds) {
      const need = this.lanes.consumer.remove(id) ?? this.lanes.industrial.remove(id);
      if (!need) continue;
      const jobs = this.byTask.get(need.taskId);
      jobs?.delete(id);
      if (jobs?.size === 0) this.byTask.delete(need.taskId);
    }
  }

  /** Drops every job of a task that closed (cancelled, failed, expired). */
  removeTask(taskId: string): void {
    const jobs = this.byTask.get(taskId);
    if (jobs) this.remove([...jobs]);
  }

  /** The first `limit` jobs of a lane in queue order, left in place. */
  head(lane: Lane, limit: number): QueuedNeed[] {
    const out: QueuedNeed[] = [];
    if (limit <= 0) return out;
    for (const need of this.lanes[lane].ordered()) {
      out.push(need);
      if (out.length >= limit) break;
    }
    return out;
  }

  /** New parameters: aging applies at once; a changed lane map moves jobs between lanes. */
  setParams(params: SchedulerParams): void {
    const old = this.params;
    this.params = params;
    const moved = (Object.keys(params.lane_of) as (keyof SchedulerParams['lane_of'])[]).some(
      (t) => params.lane_of[t] !== old.lane_of[t],
    );
    if (!moved) {
      this.lanes.consumer.setParams(params);
      this.lanes.industrial.setParams(params);
      return;
    }
    const all = [...this.lanes.consumer.ordered(), ...this.lanes.industrial.ordered()];
    this.lanes = { consumer: new PriorityQueue(params), industrial: new PriorityQueue(params) };
    for (const need of all) this.lanes[laneOf(need.challengeType, params)].push(need);
  }
}
