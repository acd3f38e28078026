// The webhook address guard: which addresses a delivery may not reach, and the check a task's
// URL gets at creation (the name resolved; refused when any address is private or none exists).

import { expect, it } from 'vitest';
import { isPrivateAddress, publicOnlyLookup, webhookTargetProblem } from '../../src/market/webhook-guard.js';

it('tells loopback, private, link-local and reserved addresses from public ones', () => {
  for (const a of [
    '127.0.0.1',
    '127.9.9.9',
    '10.0.0.1',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '255.255.255.255',
    '::',
    '::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    'fe80::1',
    'fd00::1',
    'ff02::1',
    'not an address',
  ])
    expect(isPrivateAddress(a), a).toBe(true);
  for (const a of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '192.169.0.1', '2606:4700:4700::1111', '2001:db9::1'])
    expect(isPrivateAddress(a), a).toBe(false);
});

it('checks a name by every address it resolves to', async () => {
  const resolving = (addresses: string[]) => () => Promise.resolve(addresses);
  expect(
    await webhookTargetProblem('https://hooks.example.com/x', resolving(['93.184.215.14'])),
  ).toBeUndefined();
  expect(
    await webhookTargetProblem('https://hooks.example.com/x', resolving(['93.184.215.14', '10.0.0.7'])),
  ).toMatch(/hooks\.example\.com is 10\.0\.0\.7/);
  const missing = Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
  expect(await webhookTargetProblem('https://nowhere.invalid/x', () => Promise.reject(missing))).toMatch(
    /nowhere\.invalid does not resolve \(ENOTFOUND\)/,
  );
  expect(await webhookTargetProblem('http://8.8.8.8/x')).toBeUndefined();
  expect(await webhookTargetProblem('http://[fe80::1]/x')).toMatch(/link-local/);
});

it('refuses to connect where a name resolves to a private address at delivery', async () => {
  const err = await new Promise<NodeJS.ErrnoException | null>((resolve) =>
    publicOnlyLookup('localhost', {}, (e) => resolve(e)),
  );
  expect(err?.code).toBe('EPRIVATEADDRESS');
});
