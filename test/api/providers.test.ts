// GET /providers/{address}: a provider reads its own balances, earnings, reputation and recent
// jobs by signing with its key; the operator reads any; nobody else reads one.

import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { TaskMarketClient } from '../../src/client/client.js';
import { unixSeconds } from '../../src/domain/clock.js';
import { utf8 } from '../../src/domain/hash.js';
import { generateKeyPair, signMessage, type KeyPair } from '../../src/domain/identity.js';
import { PROVIDER_AUTH_HEADERS, providerViewMessage } from '../../src/domain/schemas/providers.js';
import type { JobMsg } from '../../src/domain/schemas/worker.js';
import { apiError, startTestMarket, type TestMarket } from '../helpers/market.js';
import { WorkerPool } from '../helpers/ws-worker.js';

let tm: TestMarket;
const pool = new WorkerPool(() => ({ url: tm.url, connected: () => tm.market.dispatcher.connected }));
beforeAll(async () => {
  tm = await startTestMarket();
});
afterAll(async () => {
  await tm?.close();
});
afterEach(() => pool.closeAll());

function signed(
  key: KeyPair,
  address = key.address,
  t = unixSeconds(tm.market.clock),
): Record<string, string> {
  return {
    [PROVIDER_AUTH_HEADERS.publicKey]: key.publicKey,
    [PROVIDER_AUTH_HEADERS.timestamp]: String(t),
    [PROVIDER_AUTH_HEADERS.signature]: signMessage(key.privateKey, utf8(providerViewMessage(address, t))),
  };
}

it('shows a provider what it earned, its reputation and its recent jobs', async () => {
  await tm.operator.rpc('settlement.set_mode', { mode: 'Armed', delay_ms: 0 });
  const { client } = await tm.customer('100.0');
  const w = pool.make();
  await w.join({ price: '10.0' });
  const task = await client.createTask({
    challenge_type: 'gpuhash',
    payload: { input: Buffer.from('x'.repeat(100)).toString('base64') },
    reward: '40.0',
  });
  const job = await w.next<JobMsg>('job', (m) => m.task_id === task.task_id);
  w.send(w.result(job));
  await w.next('result_accepted');

  // No API key: the signature of the worker's key is the credential.
  const view = await new TaskMarketClient({ url: tm.url }).getProvider(w.key.address, signed(w.key));
  expect(view).toMatchObject({
    address: w.key.address,
    connected: true,
    balances: [
      { asset: 'CPC', balance: '2.5' },
      { asset: 'IT', balance: '0.0' },
    ],
    earned: [
      { asset: 'CPC', amount: '2.5' },
      { asset: 'IT', amount: '0.0' },
    ],
    jobs: { completed: 1, failed: 0, running: 0 },
  });
  expect(view.reputation.score).toBeGreaterThan(0);
  expect(view.recent_jobs).toEqual([
    expect.objectContaining({ job_id: job.job_id, task_id: task.task_id, status: 'completed', units: 1 }),
  ]);
  // The operator key reads it too.
  expect((await tm.operator.getProvider(w.key.address)).address).toBe(w.key.address);
}, 60_000);

it('refuses anyone but the provider and the operator, and says how to ask', async () => {
  const w = pool.make();
  await w.join();
  const { client } = await tm.customer('1.0');
  const anonymous = new TaskMarketClient({ url: tm.url });
  expect(await apiError(anonymous.getProvider(w.key.address))).toMatchObject({ status: 401 });
  expect(await apiError(client.getProvider(w.key.address))).toMatchObject({ status: 403, code: 'forbidden' });
  const other = generateKeyPair();
  expect(await apiError(anonymous.getProvider(w.key.address, signed(other, w.key.address)))).toMatchObject({
    status: 403,
  });
  const stale = signed(w.key, w.key.address, unixSeconds(tm.market.clock) - 3600);
  expect(await apiError(anonymous.getProvider(w.key.address, stale))).toMatchObject({ status: 401 });
  const forged = { ...signed(w.key), [PROVIDER_AUTH_HEADERS.signature]: '00'.repeat(64) };
  expect(await apiError(anonymous.getProvider(w.key.address, forged))).toMatchObject({ status: 401 });
  const unknown = generateKeyPair();
  expect(await apiError(anonymous.getProvider(unknown.address, signed(unknown)))).toMatchObject({
    status: 404,
    code: 'not_found',
  });
  // Connected but never paid: a view without a ledger account.
  expect(await anonymous.getProvider(w.key.address, signed(w.key))).toMatchObject({
    account_id: null,
    balances: [],
    connected: true,
  });
}, 60_000);
