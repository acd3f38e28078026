// Deadline expiry: the sweep fails overdue open tasks with deadline_exceeded and refunds them.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/clock.js';
import { verifyLedger } from '../../src/market/ledger.js';
import { EXAMPLE_PAYLOADS, startTestMarket, type TestMarket } from '../helpers/market.js';

const clock = new ManualClock(1_800_000_000_000);
let tm: TestMarket;
beforeAll(async () => {
  tm = await startTestMarket({ clock, background: false });
});
afterAll(async () => {
  await tm?.close();
});

it('fails overdue tasks with deadline_exceeded, refunds them, and leaves the rest alone', async () => {
  const { client } = await tm.customer('10.0');
  const now = 1_800_000_000;
  const soon = await client.createTask({
    challenge_type: 'synthetic',
    payload: { ...EXAMPLE_PAYLOADS.synthetic },
    reward: '3.0',
    deadline: now + 60,
  });
  const later = await client.createTask({
    challenge_type: 'synthetic',
    payload: { ...EXAMPLE_PAYLOADS.synthetic },
    reward: '2.0',
    deadline: now + 600,
  });
  const none = await client.createTask({
    challenge_type: 'synthetic',
    payload: { ...EXAMPLE_PAYLOADS.synthetic },
    reward: '1.0',
  });
  await client.cancelTask(none.task_id);

  clock.advance(59_000);
  expect(await tm.market.tasks.expireOverdue()).toBe(0);
  clock.advance(1_000);
  const closed: string[] = [];
  tm.market.events.on('task.closed', (e) => closed.push(`${e.taskId}:${e.status}:${e.reason}`));
  expect(await tm.market.tasks.expireOverdue()).toBe(1);
  expect(closed).toEqual([`${soon.task_id}:failed:deadline_exceeded`]);

  expect(await client.getTask(soon.task_id)).toMatchObject({
    status: 'failed',
    failure_reason: 'deadline_exceeded',
  });
  expect(await client.getTask(later.task_id)).toMatchObject({ status: 'pending' });
  expect(await client.me()).toMatchObject({ balance: '8.0', escrow: '2.0' });
  // A second sweep, or the clock going backwards, changes nothing.
  clock.advance(-120_000);
  expect(await tm.market.tasks.expireOverdue()).toBe(0);
  expect((await verifyLedger(tm.market.db)).violations).toEqual([]);
});
