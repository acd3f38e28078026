// The start-up check of stored receipts: every kind of damage is counted, the scan pages through
// the table by key, and the cap stops it with the rest reported unread.

import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { encodeReceipt, makeReceipt } from '../../src/domain/receipts.js';
import { checkStoredReceipts } from '../../src/market/receipt-check.js';
import type { Db } from '../../src/store/db.js';
import { insertReceipts } from '../../src/store/settlement.js';
import { testDb } from '../helpers/db.js';

let db: Db;
beforeAll(async () => {
  db = await testDb();
});
afterAll(async () => {
  await db.close();
});
beforeEach(async () => {
  await db.query('TRUNCATE receipts');
});

const uuid = (i: number) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;

async function store(n: number): Promise<string[]> {
  const rows = Array.from({ length: n }, (_, i) => {
    const receipt = makeReceipt({
      job_id: uuid(i),
      buyer: uuid(1_000_000),
      provider: 'cpc1provider',
      quote_price: 10n ** 18n,
      units: 1 + (i % 5),
      issued_at: 1_700_000_000,
    });
    return {
      idempotency_key: receipt.idempotency_key,
      job_id: receipt.job_id,
      task_id: uuid(i),
      body: encodeReceipt(receipt),
      amount: '0',
      mode: 'DryRun',
      applied: false,
      journal_id: '00000000-0000-0000-0000-000000000000',
    };
  });
  await insertReceipts(db, rows, 0);
  return rows.map((r) => r.idempotency_key).sort();
}

it('finds nothing wrong with intact receipts, over several pages', async () => {
  await store(25);
  const report = await checkStoredReceipts(db, { max: 0, pageSize: 4 });
  expect(report).toMatchObject({ checked: 25, corrupt: 0, damaged: [], complete: true });
});

it('counts every kind of damage and names the first few keys', async () => {
  const keys = await store(12);
  const [notJson, tampered, moved, wrongVersion] = keys as [string, string, string, string];
  await db.query(`UPDATE receipts SET body = '{"version":1,"job_id":' WHERE idempotency_key = $1`, [notJson]);
  // A field changed behind the key's back: the recomputed key no longer matches.
  await db.query(
    `UPDATE receipts SET body = replace(body, '"quote_price":"1000000000000000000"', '"quote_price":"1"')
     WHERE idempotency_key = $1`,
    [tampered],
  );
  // A sound body under another row's key.
  await db.query(
    `UPDATE receipts SET body = (SELECT body FROM receipts WHERE idempotency_key = $2) WHERE idempotency_key = $1`,
    [moved, keys[11]],
  );
  await db.query(
    `UPDATE receipts SET body = replace(body, '"version":1', '"version":7') WHERE idempotency_key = $1`,
    [wrongVersion],
  );
  const report = await checkStoredReceipts(db, { max: 0, pageSize: 5, sample: 3 });
  expect(report.checked).toBe(12);
  expect(report.corrupt).toBe(4);
  expect(report.damaged.map((d) => d.key)).toEqual([notJson, tampered, moved]);
  expect(report.damaged.map((d) => d.problem.split(':')[0])).toEqual([
    'not_json',
    'key_mismatch',
    'key_mismatch',
  ]);
});

it('stops at the cap and says the scan was not complete', async () => {
  await store(10);
  expect(await checkStoredReceipts(db, { max: 7, pageSize: 3 })).toMatchObject({
    checked: 7,
    complete: false,
  });
  expect(await checkStoredReceipts(db, { max: 10, pageSize: 3 })).toMatchObject({
    checked: 10,
    complete: true,
  });
  expect(await checkStoredReceipts(db, { max: 10, pageSize: 10 })).toMatchObject({
    checked: 10,
    complete: true,
  });
});
