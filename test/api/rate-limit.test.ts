import { afterAll, beforeAll, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/clock.js';
import { startTestMarket, type TestMarket } from '../helpers/market.js';

const clock = new ManualClock(1_800_000_000_000);
let tm: TestMarket;
beforeAll(async () => {
  tm = await startTestMarket({ clock, config: { rate_limit_per_second: 3 }, background: false });
});
afterAll(async () => {
  await tm?.close();
});

it('answers 429 rate_limited past the per-key rate, and recovers as time passes', async () => {
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++)
    statuses.push(
      (await fetch(`${tm.url}/healthz`, { headers: { authorization: 'Bearer tm_a_key_of_someone' } })).status,
    );
  expect(statuses).toEqual([200, 200, 200, 429, 429]);
  const limited = await fetch(`${tm.url}/healthz`, {
    headers: { authorization: 'Bearer tm_a_key_of_someone' },
  });
  expect(await limited.json()).toMatchObject({ error: { code: 'rate_limited' } });
  expect(limited.headers.get('retry-after')).toBe('1');
  // Another key has its own bucket.
  expect(
    (await fetch(`${tm.url}/healthz`, { headers: { authorization: 'Bearer tm_another_key' } })).status,
  ).toBe(200);
  clock.advance(1000);
  expect(
    (await fetch(`${tm.url}/healthz`, { headers: { authorization: 'Bearer tm_a_key_of_someone' } })).status,
  ).toBe(200);
});
