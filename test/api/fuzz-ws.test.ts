// 2,000 seeded malformed WebSocket frames at the worker gateway: before hello each closes its
// connection with protocol_error; after hello each is answered with an `invalid_message` error
// and the session carries on. The node stays up, nothing is stored, and a worker still works.

import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { CLOSE, MAX_MESSAGE_BYTES, WORKER_MESSAGES } from '../../src/domain/schemas/worker.js';
import { verifyLedger } from '../../src/market/ledger.js';
import { startTestMarket, type TestMarket } from '../helpers/market.js';
import { WorkerPool } from '../helpers/ws-worker.js';

const SEED = 0x3b91;
const AFTER_HELLO = 1_800;
const BEFORE_HELLO = 200;

let tm: TestMarket;
const pool = new WorkerPool(() => ({ url: tm.url, connected: () => tm.market.dispatcher.connected }));
beforeAll(async () => {
  tm = await startTestMarket({ config: { worker_messages_per_second: 100_000 }, background: false });
});
afterAll(async () => {
  await tm?.close();
});
afterEach(() => pool.closeAll());

/** Frames that fail parsing or validation: never a valid message of any type. */
const malformed = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  fc.string({ maxLength: 200 }).filter((s) => {
    try {
      JSON.parse(s);
      return false;
    } catch {
      return true;
    }
  }),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc
    .record({
      type: fc.oneof(
        fc.constantFrom(...Object.keys(WORKER_MESSAGES)),
        fc.constantFrom(...Object.getOwnPropertyNames(Object.prototype)),
        fc.string({ maxLength: 12 }),
      ),
      rest: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
    })
    // An unknown field makes even a well-formed message of a known type invalid (strict schemas).
    .map(({ type, rest }) => JSON.stringify({ ...rest, type, zz_fuzz_unknown_field: true })),
  fc.constantFrom('{"type":"hello"', '\u0000', '{"__proto__":{"type":"hello"}}', 'null', '[]'),
);

it(`answers ${AFTER_HELLO} malformed frames after hello with invalid_message, keeping the session`, async () => {
  const frames = fc.sample(malformed, { seed: SEED, numRuns: AFTER_HELLO });
  const w = pool.make();
  await w.join();
  for (const frame of frames) w.ws.send(frame);
  for (let i = 0; i < frames.length; i++) {
    const error = await w.next<{ code: string }>('error');
    expect(error.code).toBe('invalid_message');
  }
  // The session is still good: an offer is accepted.
  w.send({ type: 'offer', units: 10, price_per_unit: '0.002', fee_pct_ct: 100 });
  await w.next('offer_accepted');
});

it(`closes each of ${BEFORE_HELLO} connections that open with a malformed frame, and stays up`, async () => {
  const frames = fc.sample(malformed, { seed: SEED + 1, numRuns: BEFORE_HELLO });
  for (let i = 0; i < frames.length; i += 20) {
    const batch = frames.slice(i, i + 20).map((frame) => {
      const w = pool.make();
      w.ws.on('open', () => w.ws.send(frame));
      return w.closed;
    });
    for (const closed of await Promise.all(batch)) expect(closed.code).toBe(CLOSE.protocol_error);
  }
  // A frame over the size limit closes with 1009 (message too big).
  const big = pool.make();
  big.ws.on('open', () => big.ws.send(Buffer.alloc(MAX_MESSAGE_BYTES + 1, 0x7b)));
  expect((await big.closed).code).toBe(1009);

  expect((await fetch(`${tm.url}/healthz`)).status).toBe(200);
  const honest = pool.make();
  await honest.join();
  expect((await verifyLedger(tm.market.db)).violations).toEqual([]);
  expect(await tm.market.db.query('SELECT 1 FROM tasks')).toEqual([]);
});
