// The events of GET /tasks/{task_id}/events (server-sent events). Each SSE message's `event:`
// is the type below and its `data:` the JSON object. The stream opens with `status`, sends
// `status` again whenever the task's status, progress or waiting reason changes, `job` and
// `progress` as its jobs are leased, advance and end, and closes after `result`.

import { Type, type Static } from '@sinclair/typebox';
import { Nullable, StringEnum, Uuid } from './common.js';
import { JobView, TaskView } from './tasks.js';

export const TASK_EVENT_TYPES = ['status', 'job', 'progress', 'result'] as const;
export type TaskEventType = (typeof TASK_EVENT_TYPES)[number];

export const JobEvent = Type.Object(
  {
    task_id: Uuid,
    job_id: Uuid,
    status: StringEnum(['leased', 'completed', 'failed'] as const),
    worker_address: Nullable(Type.String()),
    reason: Type.Optional(Type.String({ description: 'why a job failed' })),
  },
  { title: 'TaskJobEvent', description: 'a job of the task was leased to a worker, completed or failed' },
);

export const ProgressEvent = Type.Object(
  {
    task_id: Uuid,
    job_id: Uuid,
    slices_done: Type.Integer({ minimum: 0 }),
    slices_total: Type.Integer({ minimum: 0 }),
  },
  { title: 'TaskProgressEvent', description: "a worker's per-slice progress on one job of the task" },
);

export const ResultEvent = Type.Object(
  { task: TaskView, jobs: Type.Array(JobView) },
  {
    title: 'TaskResultEvent',
    description:
      'the last event: the ended task and its jobs, with their outputs (inference text, artifacts)',
  },
);

export type TaskEvent =
  | { type: 'status'; data: TaskView }
  | { type: 'job'; data: Static<typeof JobEvent> }
  | { type: 'progress'; data: Static<typeof ProgressEvent> }
  | { type: 'result'; data: Static<typeof ResultEvent> };
