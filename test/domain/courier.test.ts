import { expect, it } from 'vitest';
import { courierBackoffMs, resultDedupKey } from '../../src/domain/courier.js';

it('doubles the retry delay from the base up to the cap', () => {
  expect([1, 2, 3, 4, 5, 6].map((n) => courierBackoffMs(n, 1000, 10_000))).toEqual([
    1000, 2000, 4000, 8000, 10_000, 10_000,
  ]);
  expect(courierBackoffMs(10_000, 1000, 60_000)).toBe(60_000); // no overflow on huge attempt counts
});

it('jitters within the upper half of the step', () => {
  expect(courierBackoffMs(3, 1000, 10_000, () => 0)).toBe(2000);
  expect(courierBackoffMs(3, 1000, 10_000, () => 0.999999)).toBe(4000);
  expect(courierBackoffMs(3, 1000, 10_000, () => 0.5)).toBe(3000);
});

it('keys a task result by its task', () => {
  expect(resultDedupKey('t1')).toBe('result:t1');
});
