// Random bodies at POST /tasks: never a 5xx, and the books still balance afterwards.

import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { verifyLedger } from '../../src/market/ledger.js';
import { CHALLENGE_TYPES } from '../../src/domain/schemas/payloads.js';
import { EXAMPLE_PAYLOADS, startTestMarket, type TestMarket } from '../helpers/market.js';

let tm: TestMarket;
let key: string;
beforeAll(async () => {
  tm = await startTestMarket();
  ({ apiKey: key } = await tm.customer('1000.0'));
});
afterAll(async () => {
  await tm?.close();
});

const nearlyValid = fc.record(
  {
    challenge_type: fc.oneof(fc.constantFrom(...CHALLENGE_TYPES), fc.string(), fc.integer()),
    payload: fc.oneof(
      fc.constantFrom(...Object.values(EXAMPLE_PAYLOADS)).map((p) => ({ ...p })),
      fc.dictionary(fc.string(), fc.jsonValue()),
      fc.jsonValue(),
    ),
    reward: fc.oneof(
      fc.constantFrom('1.0', '0', '-1', '1e5', '0.5', '99999999999999999999999'),
      fc.string(),
      fc.double(),
      fc.bigInt().map(String),
    ),
    deadline: fc.oneof(fc.integer(), fc.double(), fc.string(), fc.constant(4_000_000_000)),
  },
  { requiredKeys: [] },
);

it('never answers 5xx to any body, and the ledger balances after', async () => {
  await fc.assert(
    fc.asyncProperty(fc.oneof(nearlyValid, fc.jsonValue()), async (body) => {
      const res = await fetch(`${tm.url}/tasks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(res.status).toBeLessThan(500);
      const json = (await res.json()) as { error?: { code: string } };
      if (res.status >= 400) expect(typeof json.error?.code).toBe('string');
    }),
    { numRuns: 300 },
  );
  expect((await verifyLedger(tm.market.db)).violations).toEqual([]);
});

it('never answers 5xx to raw bytes', async () => {
  await fc.assert(
    fc.asyncProperty(fc.string({ maxLength: 200 }), async (raw) => {
      const res = await fetch(`${tm.url}/tasks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: raw,
      });
      expect(res.status).toBeLessThan(500);
    }),
    { numRuns: 200 },
  );
});
