// The start-up check of stored receipts (spec "Receipt Settlement": "on startup the store reloads
// existing entries and increments receipt_corrupt_total for any damaged records"). A damaged
// receipt is one whose body no longer decodes, or whose key, recomputed from its fields, is not
// the key it is stored under. Such a row is counted and named in the log, never fatal: settlement
// only ever inserts receipts (a replay collides on the key column), so a damaged body cannot make
// anything be paid twice; it is evidence for the operator, not a reason to stay down.
//
// Cost: one keyset scan over the primary key, a page at a time (memory stays flat), a JSON parse
// and a BLAKE3 per row. `max` caps how many rows one start reads; the keys are hashes, so a capped
// scan reads an even sample of the table rather than its oldest rows.

import { storedReceiptProblem } from '../domain/receipts.js';
import type { Queryable } from '../store/db.js';
import { receiptPage } from '../store/settlement.js';

export interface ReceiptCheckReport {
  checked: number;
  corrupt: number;
  /** The keys of the first damaged receipts found (at most `sample`), with what is wrong. */
  damaged: { key: string; problem: string }[];
  /** False when the scan stopped at `max` with rows left unread. */
  complete: boolean;
  ms: number;
}

export interface ReceiptCheckOptions {
  /** Most rows to read; 0: all. */
  max: number;
  pageSize?: number;
  /** How many damaged keys to keep for the log. */
  sample?: number;
  now?: () => number;
}

export async function checkStoredReceipts(
  q: Queryable,
  opts: ReceiptCheckOptions,
): Promise<ReceiptCheckReport> {
  const pageSize = opts.pageSize ?? 1000;
  const sample = opts.sample ?? 10;
  const now = opts.now ?? (() => performance.now());
  const started = now();
  const report: ReceiptCheckReport = { checked: 0, corrupt: 0, damaged: [], complete: true, ms: 0 };
  let after: string | undefined;
  for (;;) {
    const left = opts.max > 0 ? opts.max - report.checked : pageSize;
    if (left <= 0) {
      report.complete = (await receiptPage(q, after, 1)).length === 0;
      break;
    }
    const page = await receiptPage(q, after, Math.min(pageSize, left));
    for (const row of page) {
      report.checked++;
      const problem = storedReceiptProblem(row);
      if (problem === undefined) continue;
      report.corrupt++;
      if (report.damaged.length < sample) report.damaged.push({ key: row.idempotency_key, problem });
    }
    const last = page[page.length - 1];
    if (!last || page.length < Math.min(pageSize, left)) break;
    after = last.idempotency_key;
  }
  report.ms = Math.round(now() - started);
  return report;
}
