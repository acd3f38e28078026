// The courier's pages are bounded by bytes as well as rows (issue #15): on PGlite a statement's
// rows pass whole through a WebAssembly heap that never shrinks, so a backlog of large entries is
// read a few MiB at a time, and paging through it still yields every entry once, in nonce order.

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Db } from '../../src/store/db.js';
import { PAGE_BYTES, pendingPage } from '../../src/store/outbox.js';
import { testDb } from '../helpers/db.js';

let db: Db;
beforeAll(async () => {
  db = await testDb();
});
afterAll(async () => {
  await db.close();
});

it('cuts a page of large sealed entries at PAGE_BYTES and pages through all of them in nonce order', async () => {
  // Incompressible bodies of 1.5 MiB: three reach the 4 MiB budget, so a page holds three.
  const big = Math.floor(1.5 * 1024 * 1024);
  const n = 7;
  for (let i = 0; i < n; i++)
    await db.query(
      `INSERT INTO outbox (kind, dedup_key, draft, sender, nonce, body, tx_hash, next_attempt_at_ms, created_at_ms)
       VALUES ('TRANSFER', $1, '{}', 'pages', $2, $3, $4, 0, 0)`,
      [`pages:${i}`, i, randomBytes(big).toString('base64').slice(0, big), `hash-${i}`],
    );
  expect(PAGE_BYTES).toBe(4 * 1024 * 1024);
  const seen: number[] = [];
  const sizes: number[] = [];
  let after: { sender: string; nonce: number } | undefined;
  for (;;) {
    const { rows, more } = await pendingPage(db, after, 500);
    if (rows.length === 0) break;
    sizes.push(rows.length);
    for (const r of rows) seen.push(r.nonce);
    expect(rows.every((r) => r.body.length === big)).toBe(true);
    const last = rows.at(-1)!;
    after = { sender: last.sender, nonce: last.nonce };
    if (!more) break;
  }
  expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6]);
  expect(sizes).toEqual([3, 3, 1]);
});

it('a page of small entries ends by rows, and says when more may follow', async () => {
  for (let i = 0; i < 5; i++)
    await db.query(
      `INSERT INTO outbox (kind, dedup_key, draft, sender, nonce, body, tx_hash, next_attempt_at_ms, created_at_ms)
       VALUES ('TRANSFER', $1, '{}', 'small', $2, 'x', $3, 0, 0)`,
      [`small:${i}`, i, `small-${i}`],
    );
  const first = await pendingPage(db, { sender: 'small', nonce: -1 }, 3);
  expect(first.rows.map((r) => r.nonce)).toEqual([0, 1, 2]);
  expect(first.more).toBe(true);
  const second = await pendingPage(db, { sender: 'small', nonce: 2 }, 3);
  expect(second.rows.map((r) => r.nonce)).toEqual([3, 4]);
  expect(second.more).toBe(false);
});

it("reads a sealed TRANSFER's draft (a failed payout is given back from it), not a SUBMIT_RESULT's", async () => {
  const draft = { type: 'transfer', to: 'someone', amount: '5' };
  await db.query(
    `INSERT INTO outbox (kind, dedup_key, draft, sender, nonce, body, tx_hash, next_attempt_at_ms, created_at_ms)
     VALUES ('TRANSFER', 'kinds:0', $1, 'kinds', 0, 'x', 'kinds-0', 0, 0),
            ('SUBMIT_RESULT', 'kinds:1', '{"type":"result_batch","tasks":[]}', 'kinds', 1, 'y', 'kinds-1', 0, 0)`,
    [JSON.stringify(draft)],
  );
  const { rows } = await pendingPage(db, { sender: 'kinds', nonce: -1 }, 10);
  expect(rows.filter((r) => r.sender === 'kinds').map((r) => [r.kind, r.draft])).toEqual([
    ['TRANSFER', draft],
    ['SUBMIT_RESULT', null],
  ]);
});
