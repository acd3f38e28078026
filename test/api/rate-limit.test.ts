// Request budgets: per authenticated account, plus per client address for failed authentication.
// A made-up key has no budget of its own, so rotating keys resets nobody's limit.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { Buckets } from '../../src/api/rate-limit.js';
import { ManualClock, unixSeconds } from '../../src/domain/clock.js';
import { utf8 } from '../../src/domain/hash.js';
import { generateKeyPair, signMessage, type KeyPair } from '../../src/domain/identity.js';
import { PROVIDER_AUTH_HEADERS, providerViewMessage } from '../../src/domain/schemas/providers.js';
import { OPERATOR_KEY, startTestMarket, type TestMarket } from '../helpers/market.js';

const clock = new ManualClock(1_800_000_000_000);
let tm: TestMarket;
beforeAll(async () => {
  tm = await startTestMarket({ clock, config: { rate_limit_per_second: 3 }, background: false });
});
afterAll(async () => {
  await tm?.close();
});

const get = (key: string, path = '/params') =>
  fetch(`${tm.url}${path}`, { headers: { authorization: `Bearer ${key}` } });

it('answers 429 rate_limited past the per-account rate, and recovers as time passes', async () => {
  // Creating two customers spends the operator's budget: each test step starts on a fresh second.
  const alice = await tm.customer('0');
  clock.advance(1000);
  const bob = await tm.customer('0');
  clock.advance(1000);
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) statuses.push((await get(alice.apiKey)).status);
  expect(statuses).toEqual([200, 200, 200, 429, 429]);
  const limited = await get(alice.apiKey);
  expect(await limited.json()).toMatchObject({ error: { code: 'rate_limited' } });
  expect(limited.headers.get('retry-after')).toBe('1');
  // Another account has its own bucket; operations endpoints are not limited.
  expect((await get(bob.apiKey)).status).toBe(200);
  for (let i = 0; i < 5; i++) expect((await fetch(`${tm.url}/healthz`)).status).toBe(200);
  clock.advance(1000);
  expect((await get(alice.apiKey)).status).toBe(200);
  clock.advance(1000);
});

it('rotating made-up keys resets no limit: they draw on the address failure budget', async () => {
  const carol = await tm.customer('0');
  clock.advance(1000);
  for (let i = 0; i < 3; i++) expect((await get(carol.apiKey)).status).toBe(200);
  expect((await get(carol.apiKey)).status).toBe(429);
  // A thousand different made-up keys: three are looked up and refused, the rest are refused
  // unlooked at, and carol's bucket is still empty afterwards.
  const statuses = new Map<number, number>();
  for (let i = 0; i < 1000; i++) {
    const status = (await get(`tm_made_up_${i.toString().padStart(6, '0')}`)).status;
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
  }
  expect(Object.fromEntries(statuses)).toEqual({ 401: 3, 429: 997 });
  clock.advance(1000);
  // The address has its failure budget back, and carol her requests; her bucket was never reset.
  for (let i = 0; i < 3; i++) expect((await get(carol.apiKey)).status).toBe(200);
  expect((await get(carol.apiKey)).status).toBe(429);
  expect((await get(OPERATOR_KEY)).status).toBe(200);
  clock.advance(1000);
});

it('limits a provider reading its own view by signature, and counts failed signatures on the address', async () => {
  const signedGet = (key: KeyPair, signature?: string) => {
    const t = unixSeconds(clock);
    return fetch(`${tm.url}/providers/${key.address}`, {
      headers: {
        [PROVIDER_AUTH_HEADERS.publicKey]: key.publicKey,
        [PROVIDER_AUTH_HEADERS.timestamp]: String(t),
        [PROVIDER_AUTH_HEADERS.signature]:
          signature ?? signMessage(key.privateKey, utf8(providerViewMessage(key.address, t))),
      },
    });
  };
  const a = generateKeyPair();
  const b = generateKeyPair();
  clock.advance(1000);
  // Never seen, so 404 after the gate: each still spends the provider's budget.
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) statuses.push((await signedGet(a)).status);
  expect(statuses).toEqual([404, 404, 404, 429, 429]);
  // Another provider has its own budget; the operator's key draws on the operator's.
  expect((await signedGet(b)).status).toBe(404);
  expect((await get(OPERATOR_KEY, `/providers/${b.address}`)).status).toBe(404);
  clock.advance(1000);
  // Forged signatures fail authentication: past three a second the address is refused unlooked at.
  const forged: number[] = [];
  for (let i = 0; i < 5; i++) forged.push((await signedGet(b, '00'.repeat(64))).status);
  expect(forged).toEqual([401, 401, 401, 429, 429]);
  clock.advance(1000);
  expect((await signedGet(a)).status).toBe(404);
  clock.advance(1000);
});

it('sweeps only refilled buckets first, so holding many keys forgives no draining one', () => {
  const buckets = new Buckets(2);
  // 49,000 keys used at 0 have refilled by 10 s; one key is drained at 10 s.
  for (let i = 0; i < 49_000; i++) buckets.take(`old${i}`, 0);
  expect([1, 2, 3].map(() => buckets.take('drained', 10_000))).toEqual([true, true, false]);
  // More keys at 10 s push the map past its bound: the sweep drops the refilled ones only.
  for (let i = 0; i < 11_000; i++) buckets.take(`new${i}`, 10_000);
  expect(buckets.size).toBe(11_001);
  expect(buckets.has('drained', 10_000)).toBe(false);
  expect(buckets.has('drained', 10_500)).toBe(true);
});
