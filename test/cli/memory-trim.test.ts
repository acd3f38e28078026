// An idle node hands the memory glibc keeps after V8's compiler threads freed it back to the OS
// (malloc_trim through koffi); where that is not possible it runs without.

import { expect, it, vi } from 'vitest';
import pino from 'pino';
import { loadMallocTrim, trimWhenIdle } from '../../src/cli/memory-trim.js';

const logger = pino({ level: 'silent' });

it.runIf(process.platform === 'linux')('calls glibc malloc_trim on Linux', () => {
  const trim = loadMallocTrim();
  // Not every Linux has glibc (musl): then there is nothing to call.
  if (!trim) return;
  expect([0, 1]).toContain(trim());
});

it('trims an idle process, loading malloc_trim once, and stops when told', async () => {
  let loads = 0;
  let trims = 0;
  const stop = trimWhenIdle(0.05, logger, () => {
    loads++;
    return () => ++trims;
  });
  await vi.waitFor(() => expect(trims).toBeGreaterThanOrEqual(2), { timeout: 10_000 });
  stop();
  const after = trims;
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(trims).toBe(after);
  expect(loads).toBe(1);
});

it('runs without malloc_trim where it cannot be loaded, and not at all with interval 0', async () => {
  let loads = 0;
  const stop = trimWhenIdle(0.05, logger, () => {
    loads++;
    return undefined;
  });
  await vi.waitFor(() => expect(loads).toBe(1), { timeout: 10_000 });
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(loads).toBe(1);
  stop();
  const never = trimWhenIdle(0, logger, () => {
    loads++;
    return undefined;
  });
  await new Promise((resolve) => setTimeout(resolve, 100));
  never();
  expect(loads).toBe(1);
});
