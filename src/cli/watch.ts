// Following a task from the command line (`task watch`, `task create --wait`): on a terminal one
// line redrawn in place (a bar of jobs done, the slices of the job in progress); otherwise one
// plain line per event, for logs. Both go to stderr: stdout keeps the result for scripts.

import type { TaskEvent, TaskMarketClient, TaskOutcome } from '../client/client.js';
import { EXIT } from './exit-codes.js';

const BAR = 24;

export function bar(done: number, total: number, width = BAR): string {
  const filled = total > 0 ? Math.min(width, Math.round((done / total) * width)) : 0;
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
}

/** The plain line an event becomes when stderr is not a terminal. */
export function eventLine(e: TaskEvent): string {
  switch (e.type) {
    case 'status': {
      const t = e.data;
      const waiting = t.waiting_reason ? ` (waiting: ${t.waiting_reason})` : '';
      const failed = t.failure_reason ? ` (${t.failure_reason})` : '';
      return `status ${t.status} ${t.progress.jobs_done}/${t.progress.jobs_total} jobs${waiting}${failed}`;
    }
    case 'job':
      return `job ${e.data.job_id} ${e.data.status}${e.data.worker_address ? ` by ${e.data.worker_address}` : ''}${e.data.reason ? ` (${e.data.reason})` : ''}`;
    case 'progress':
      return `progress job ${e.data.job_id} ${e.data.slices_done}/${e.data.slices_total} slices`;
    case 'result':
      return `result ${e.data.task.status}${e.data.task.result ? ` ${e.data.task.result.result_hash}` : ''}`;
  }
}

/** Follows a task to its end, showing its progress on stderr; answers how it ended. */
export async function followTask(
  client: TaskMarketClient,
  taskId: string,
  opts: { timeoutMs?: number; quiet?: boolean } = {},
): Promise<TaskOutcome> {
  const tty = process.stderr.isTTY === true && !opts.quiet;
  let status = '';
  let jobs = '';
  let slices = '';
  const draw = () => process.stderr.write(`\r\x1b[2K${status} ${jobs}${slices ? ` · ${slices}` : ''}`);
  const outcome = await client.waitForTask(taskId, {
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    onEvent: (e) => {
      if (opts.quiet) return;
      if (!tty) {
        process.stderr.write(`${eventLine(e)}\n`);
        return;
      }
      if (e.type === 'status') {
        const p = e.data.progress;
        status = e.data.waiting_reason ? `${e.data.status} (${e.data.waiting_reason})` : e.data.status;
        jobs = `${bar(p.jobs_done, p.jobs_total)} ${p.jobs_done}/${p.jobs_total} jobs`;
      } else if (e.type === 'progress') slices = `job slices ${e.data.slices_done}/${e.data.slices_total}`;
      else if (e.type === 'result') slices = '';
      draw();
    },
  });
  if (tty) process.stderr.write('\n');
  return outcome;
}

/** The exit code of a watched task: 0 once completed, 1 when it failed or was cancelled. */
export function exitOf(outcome: TaskOutcome): number {
  return outcome.task.status === 'completed' ? EXIT.ok : EXIT.failure;
}
