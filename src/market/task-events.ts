// Following a task live (GET /tasks/{task_id}/events): one subscription to the event bus fans
// out to every follower of a task. Events are hints (rule 10): each one makes the follower read
// the task again, and a poll does the same, so a change made through another node still shows.
// Per-slice progress exists only as an event, on the node whose worker sent it.
//
//   open → status (snapshot) → … status | job | progress … → result → closed

import type { Db } from '../store/db.js';
import { getTask } from '../store/tasks.js';
import { jobIdsOfTask } from '../store/task-events.js';
import type { TaskEvent } from '../domain/schemas/task-events.js';
import type { TaskView } from '../domain/schemas/tasks.js';
import type { MarketEventBus } from './events.js';
import { Rerun } from './rerun.js';
import { taskView, type TaskService } from './tasks.js';

const ENDED = new Set(['completed', 'failed', 'cancelled']);
/** The backstop read of a followed task, for changes no event of this node announced. */
export const FOLLOW_POLL_MS = 2000;

export interface Follow {
  /** Resolves once the `result` event was sent or the follow was closed. */
  readonly ended: Promise<void>;
  close(): void;
}

class Follower implements Follow {
  readonly ended: Promise<void>;
  private end!: () => void;
  private last = '';
  private readonly reads = new Rerun(
    () => this.read(),
    () => this.close(),
  );
  private closed = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly taskId: string,
    private readonly owner: TaskFollowers,
    private readonly send: (e: TaskEvent) => void,
    pollMs: number,
  ) {
    this.ended = new Promise((resolve) => (this.end = resolve));
    this.timer = setInterval(() => this.refresh(), pollMs);
    this.timer.unref();
  }

  emit(e: TaskEvent): void {
    if (!this.closed) this.send(e);
  }

  /** Reads the task again (once more after the read in progress, if one is). */
  refresh(): void {
    if (!this.closed) this.reads.kick();
  }

  private async read(): Promise<void> {
    const view = await this.owner.view(this.taskId);
    if (!view || this.closed) return this.close();
    const key = JSON.stringify([view.status, view.progress, view.waiting_reason, view.failure_reason]);
    if (key !== this.last) {
      this.last = key;
      this.emit({ type: 'status', data: view });
    }
    if (!ENDED.has(view.status)) return;
    const { jobs } = await this.owner.tasks.jobs({ kind: 'operator' }, this.taskId, () => undefined);
    this.emit({ type: 'result', data: { task: view, jobs } });
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.owner.forget(this);
    this.end();
  }
}

export class TaskFollowers {
  private readonly byTask = new Map<string, Set<Follower>>();
  /** job id → task id, for the jobs of followed tasks only. */
  private readonly jobTask = new Map<string, string>();

  constructor(
    private readonly db: Db,
    events: MarketEventBus,
    readonly tasks: TaskService,
    private readonly waiting: (taskId: string, challengeType: string) => string | undefined,
  ) {
    const refresh = (taskId: string | undefined) => {
      for (const f of (taskId && this.byTask.get(taskId)) || []) f.refresh();
    };
    const ofJob = (jobId: string) => this.jobTask.get(jobId);
    const job = (
      jobId: string,
      status: 'leased' | 'completed' | 'failed',
      worker: string,
      reason?: string,
    ) => {
      const taskId = ofJob(jobId);
      if (!taskId) return;
      for (const f of this.byTask.get(taskId) ?? [])
        f.emit({
          type: 'job',
          data: {
            task_id: taskId,
            job_id: jobId,
            status,
            worker_address: worker,
            ...(reason ? { reason } : {}),
          },
        });
      refresh(taskId);
    };
    events.on('job.progress', (e) => {
      const taskId = ofJob(e.jobId);
      if (!taskId) return;
      for (const f of this.byTask.get(taskId) ?? [])
        f.emit({
          type: 'progress',
          data: { task_id: taskId, job_id: e.jobId, slices_done: e.done, slices_total: e.total },
        });
    });
    events.on('job.matched', (e) => job(e.jobId, 'leased', e.provider));
    events.on('job.completed', (e) => job(e.jobId, 'completed', e.worker));
    events.on('job.failed', (e) => job(e.jobId, 'failed', e.worker, e.reason));
    events.on('lease.expired', (e) => refresh(ofJob(e.jobId)));
    events.on('job.stopped', (e) => refresh(ofJob(e.jobId)));
    events.on('task.completed', (e) => refresh(e.taskId));
    events.on('task.closed', (e) => refresh(e.taskId));
  }

  /** The task as GET /tasks/{id} shows it, or undefined once it is gone. */
  async view(taskId: string): Promise<TaskView | undefined> {
    const row = await getTask(this.db, taskId);
    if (!row) return undefined;
    const view = taskView(row);
    const reason = this.waiting(taskId, row.challenge_type);
    return reason && !ENDED.has(row.status) ? { ...view, waiting_reason: reason } : view;
  }

  /**
   * Follows a task the caller may see: `send` gets its events, starting with its status now, and
   * the last one is `result`. Whoever follows closes the follow when its listener goes away.
   */
  async follow(taskId: string, send: (e: TaskEvent) => void, pollMs = FOLLOW_POLL_MS): Promise<Follow> {
    const follower = new Follower(taskId, this, send, pollMs);
    let set = this.byTask.get(taskId);
    if (!set) {
      set = new Set();
      this.byTask.set(taskId, set);
      for (const id of await jobIdsOfTask(this.db, taskId)) this.jobTask.set(id, taskId);
    }
    set.add(follower);
    follower.refresh();
    return follower;
  }

  forget(f: Follower): void {
    const set = this.byTask.get(f.taskId);
    if (!set) return;
    set.delete(f);
    if (set.size > 0) return;
    this.byTask.delete(f.taskId);
    for (const [jobId, taskId] of this.jobTask) if (taskId === f.taskId) this.jobTask.delete(jobId);
  }

  /** Ends every follow (the node is closing). */
  close(): void {
    for (const set of [...this.byTask.values()]) for (const f of [...set]) f.close();
  }

  /** How many follows are open (tests, metrics). */
  get size(): number {
    let n = 0;
    for (const set of this.byTask.values()) n += set.size;
    return n;
  }
}
