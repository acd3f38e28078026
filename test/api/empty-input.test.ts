// Same input, same answer: a 0-byte transcode or gpuhash input is refused alike inline and
// through a blob (400 validation_error, "must not be empty"), and nothing is held in escrow.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestMarket, type TestMarket } from '../helpers/market.js';

let tm: TestMarket;
beforeAll(async () => {
  tm = await startTestMarket();
});
afterAll(async () => {
  await tm?.close();
});

it('refuses an empty input inline and as a blob, alike', async () => {
  const { apiKey, client } = await tm.customer('10.0');
  const up = await fetch(`${tm.url}/blobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/octet-stream' },
    body: new Uint8Array(0),
  });
  const blob = (await up.json()) as { hash: string; size: number };
  expect([up.status, blob.size]).toEqual([201, 0]);
  for (const type of ['transcode', 'gpuhash'] as const)
    for (const payload of [{ input: '' }, { input_blob: blob.hash }])
      await expect(
        client.createTask({ challenge_type: type, payload, reward: '1.0' }),
        JSON.stringify(payload),
      ).rejects.toMatchObject({
        code: 'validation_error',
        status: 400,
        message: expect.stringContaining('must not be empty'),
      });
  expect(await client.me()).toMatchObject({ escrow: '0.0' });
});
