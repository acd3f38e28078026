// An outbox entry given up for good. A TRANSFER that will never land gives its amount back: the
// payout journal had moved it from the provider's account to `paid_out`, so a reversing journal
// moves it back, in the same transaction that marks the entry failed. The provider's balance then
// shows money that is still owed to it rather than money that vanished. The courier calls this
// only when the entry cannot be on chain: a draft that cannot be signed, a transaction the node
// refused as invalid (signature, gas, fee: checks that give the same answer to the same bytes
// whatever the chain holds), or one refused with a 400 and then proven absent from blocks and
// pool with its nonce free. An answer that may mean "already included" never comes here
// (domain/courier.ts): that is how a payout is never reversed and then paid again.
//
// A sealed entry the chain refused for good also frees its nonce. The CPC node takes a sender's
// nonces only in sequence, so a refused nonce n left unused would stall every later transaction
// of that sender for good. Delivery is head-of-line (courier.ts): an entry above n is sent only
// once n was answered, so while n is still pending its sender's later entries were never sent,
// and the same transaction takes their seals back and sets the sender's next nonce to n; the
// next seal gives them n, n+1, … in queue order (docs/decisions.md, "Head-of-line delivery").
// Should a later entry have been sent after all (its write-ahead mark first_sent_at_ms is set, or
// it is no longer pending), or the node hold nonce n (the courier passes `nonceFree` from the
// node's account), nothing is taken back: the failure stays as it was, for the operator.

import { randomUUID } from 'node:crypto';
import type { Clock } from '../domain/clock.js';
import type { OutboxDraft } from '../domain/courier.js';
import { SYSTEM_ACCOUNTS, transfer } from '../domain/ledger.js';
import { CPC } from '../domain/money.js';
import type { Db, Queryable } from '../store/db.js';
import { appendJournals } from '../store/ledger.js';
import {
  lockEntriesAfter,
  lockNextNonce,
  markFailed,
  setNextNonce,
  unsealEntriesAfter,
} from '../store/outbox.js';
import { providerAccounts } from '../store/settlement.js';

/** An entry to give up: a draft, or (all three set) one sealed and sent. */
export interface FailingEntry {
  id: number;
  /** Null for a sealed SUBMIT_RESULT read without its draft: nothing to give back. */
  draft: OutboxDraft | null;
  sender?: string | null;
  nonce?: number | null;
  tx_hash?: string | null;
}

export interface FailOutcome {
  /** False when the entry was no longer pending under that seal: nothing changed. */
  failed: boolean;
  /**
   * True when its nonce was freed: the sender's later pending entries are drafts again and its
   * next nonce is the failed entry's. The failed entry gave up its seal (its nonce and tx hash
   * are in last_error).
   */
  rewound: boolean;
}

export async function failEntry(
  tx: Queryable,
  entry: FailingEntry,
  attempts: number,
  error: string,
  clock: Clock,
  /** True when the node's account shows nonce n unused and not pooled: it may be given again. */
  nonceFree = false,
): Promise<FailOutcome> {
  const { sender, nonce, tx_hash: hash } = entry;
  const outcome =
    sender != null && nonce != null && hash != null
      ? await failSealed(tx, entry.id, sender, nonce, hash, attempts, error, nonceFree)
      : { failed: (await markFailed(tx, entry.id, null, attempts, error)) > 0, rewound: false };
  if (!outcome.failed) return outcome;
  const { draft } = entry;
  if (draft?.type !== 'transfer' || BigInt(draft.amount) <= 0n) return outcome;
  const now = clock.nowMs();
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
  return outcome;
}

async function failSealed(
  tx: Queryable,
  id: number,
  sender: string,
  nonce: number,
  hash: string,
  attempts: number,
  error: string,
  nonceFree: boolean,
): Promise<FailOutcome> {
  // The nonce row first, as seal() takes it: a seal of this sender waits for the rewind.
  const next = await lockNextNonce(tx, sender);
  const later = await lockEntriesAfter(tx, sender, nonce);
  const unsent = nonceFree && next > nonce && later.every((e) => e.status === 'pending' && !e.tried);
  if (!unsent) return { failed: (await markFailed(tx, id, hash, attempts, error)) > 0, rewound: false };
  const kept = `${error} (refused at nonce ${nonce}, tx ${hash}; the nonce went to the next entry)`;
  if ((await markFailed(tx, id, hash, attempts, kept, true)) === 0) return { failed: false, rewound: false };
  await unsealEntriesAfter(tx, sender, nonce);
  await setNextNonce(tx, sender, nonce);
  return { failed: true, rewound: true };
}

/** failEntry in its own transaction. */
export function failEntryNow(
  db: Db,
  entry: FailingEntry,
  attempts: number,
  error: string,
  clock: Clock,
  nonceFree = false,
): Promise<FailOutcome> {
  return db.transaction((tx) => failEntry(tx, entry, attempts, error, clock, nonceFree));
}
