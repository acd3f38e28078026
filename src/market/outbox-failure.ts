// An outbox entry given up for good. A TRANSFER that will never land gives its amount back: the
// payout journal had moved it from the provider's account to `paid_out`, so a reversing journal
// moves it back, in the same transaction that marks the entry failed. The provider's balance then
// shows money that is still owed to it rather than money that vanished.

import { randomUUID } from 'node:crypto';
import { unixSeconds, type Clock } from '../domain/clock.js';
import type { OutboxDraft } from '../domain/courier.js';
import { SYSTEM_ACCOUNTS, transfer } from '../domain/ledger.js';
import { CPC } from '../domain/money.js';
import type { Db, Queryable } from '../store/db.js';
import { appendJournals } from '../store/ledger.js';
import { markFailed } from '../store/outbox.js';
import { providerAccounts } from '../store/settlement.js';

export async function failEntry(
  tx: Queryable,
  entry: { id: number; draft: OutboxDraft },
  attempts: number,
  error: string,
  clock: Clock,
): Promise<void> {
  await markFailed(tx, entry.id, attempts, error);
  const { draft } = entry;
  if (draft.type !== 'transfer' || BigInt(draft.amount) <= 0n) return;
  const now = unixSeconds(clock);
  const account = (await providerAccounts(tx, [draft.to], CPC, now)).get(draft.to) as string;
  await appendJournals(
    tx,
    [
      {
        journalId: randomUUID(),
        kind: 'payout',
        ref: `reversed:${entry.id}`,
        postings: transfer(SYSTEM_ACCOUNTS.paid_out, account, CPC, BigInt(draft.amount)),
      },
    ],
    now,
  );
}

/** failEntry in its own transaction. */
export function failEntryNow(
  db: Db,
  entry: { id: number; draft: OutboxDraft },
  attempts: number,
  error: string,
  clock: Clock,
): Promise<void> {
  return db.transaction((tx) => failEntry(tx, entry, attempts, error, clock));
}
