// What the command line prints for people: tables, the progress bar and event lines of `task
// watch`, and one-line errors that list every problem and say what to do.

import { expect, it } from 'vitest';
import { ApiError } from '../../src/client/client.js';
import { describeApiError } from '../../src/cli/errors.js';
import { formatTable } from '../../src/cli/output.js';
import { bar, eventLine } from '../../src/cli/watch.js';

it('pads table columns to their widest cell, numbers to the right', () => {
  const text = formatTable(
    [
      { header: 'ID', get: (r: { id: string; n: number | null }) => r.id },
      { header: 'N', get: (r) => r.n, right: true },
    ],
    [
      { id: 'a', n: 5 },
      { id: 'bbbb', n: 123 },
      { id: 'c', n: null },
    ],
  );
  expect(text).toBe('ID      N\na       5\nbbbb  123\nc       -\n');
});

it('draws a bar of jobs done and a line per event', () => {
  expect(bar(0, 4, 8)).toBe('[--------]');
  expect(bar(2, 4, 8)).toBe('[####----]');
  expect(bar(4, 4, 8)).toBe('[########]');
  expect(bar(0, 0, 4)).toBe('[----]');
  expect(
    eventLine({
      type: 'progress',
      data: { task_id: 't', job_id: 'j', slices_done: 3, slices_total: 10 },
    }),
  ).toBe('progress job j 3/10 slices');
  expect(
    eventLine({
      type: 'job',
      data: { task_id: 't', job_id: 'j', status: 'failed', worker_address: 'cpc1x', reason: 'timeout' },
    }),
  ).toBe('job j failed by cpc1x (timeout)');
});

it('says an error in one line with every problem and what to do', () => {
  const invalid = new ApiError(400, 'validation_error', '/reward must be greater than zero', {
    problems: [
      { path: '/reward', message: 'must be greater than zero' },
      { path: '/payload/input', message: 'must be base64' },
    ],
  });
  expect(describeApiError(invalid)).toBe(
    'error: the request has 2 problems: /reward must be greater than zero; /payload/input must be base64 — fix them and run the command again',
  );
  expect(describeApiError(new ApiError(429, 'rate_limited', 'too many', { retry_after_s: 3 }))).toBe(
    'error: too many — retry in 3 s',
  );
  expect(describeApiError(new ApiError(500, 'internal', 'internal error'))).toBe('error: internal error');
});
