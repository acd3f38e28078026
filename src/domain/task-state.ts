// The task state machine.
//
//   pending ──▶ in_progress ──▶ completed
//      │             │
//      ├─────────────┴──▶ failed      (deadline_exceeded, no capable provider, job failures)
//      └─────────────┴──▶ cancelled   (by the customer or the operator)
//
// completed, failed and cancelled are final: nothing leaves them.

export const TASK_STATUSES = ['pending', 'in_progress', 'completed', 'failed', 'cancelled'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export const OPEN_STATUSES: readonly TaskStatus[] = ['pending', 'in_progress'];
export const FINAL_STATUSES: readonly TaskStatus[] = ['completed', 'failed', 'cancelled'];

const NEXT: Record<TaskStatus, readonly TaskStatus[]> = {
  pending: ['in_progress', 'failed', 'cancelled'],
  in_progress: ['pending', 'completed', 'failed', 'cancelled'],
  completed: [],
  failed: [],
  cancelled: [],
};

export function canTransition(from: TaskStatus, to: TaskStatus): boolean {
  return NEXT[from].includes(to);
}

/** Every status a task may move to `to` from: the store's conditional updates match only these. */
export function statusesLeadingTo(to: TaskStatus): TaskStatus[] {
  return TASK_STATUSES.filter((from) => canTransition(from, to));
}

export function isFinal(status: TaskStatus): boolean {
  return FINAL_STATUSES.includes(status);
}

/** Why a task failed; shown as `failure_reason`. */
export const FAILURE_REASONS = ['deadline_exceeded', 'no_capable_provider', 'job_failed'] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];
