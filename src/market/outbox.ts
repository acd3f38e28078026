// Writing to the outbox: every chain transaction the market sends is signed and queued here in
// the same database transaction as the state change that causes it (a task completing, a payout
// batch, a carried bundle), so nothing is sent for a change that rolled back and nothing a
// change committed is lost. Nonces come from the chain_nonces row, locked for the rest of the
// transaction (docs/decisions.md: "Chain nonces at enqueue").

import { randomUUID } from 'node:crypto';
import { batchPayouts, signTx, txHash, type SignedTx, type TxDraft } from '../domain/chain-tx.js';
import { unixSeconds, type Clock } from '../domain/clock.js';
import {
  bundleComputeResult,
  bundleDedupKey,
  payoutDedupKey,
  resultDedupKey,
  taskComputeResult,
  type OutboxKind,
} from '../domain/courier.js';
import { addressFromPublicKey, publicKeyFromPrivate } from '../domain/identity.js';
import { SYSTEM_ACCOUNTS, type Posting } from '../domain/ledger.js';
import { MAX_AMOUNT } from '../domain/money.js';
import type { Db, Queryable } from '../store/db.js';
import { appendJournals } from '../store/ledger.js';
import {
  completedResults,
  existingDedupKeys,
  getOutboxByKey,
  insertOutbox,
  lockNextNonce,
  setNextNonce,
  type OutboxRow,
} from '../store/outbox.js';
import { claimUnbatched, insertPayouts, markBatched, type PayoutRow } from '../store/payouts.js';
import { providerAccounts } from '../store/settlement.js';
import { encodeTx } from '../chain/wire.js';

/** The asset TRANSFERs move: the chain's own coin. Payouts in other assets stay on the books. */
export const PAYOUT_ASSET = 'CPC';

/** A TxDraft without its timestamp, which the writer takes from its clock. */
type UntimedDraft = TxDraft extends infer D ? (D extends TxDraft ? Omit<D, 'timestamp'> : never) : never;

interface Draft {
  kind: OutboxKind;
  dedupKey: string;
  build(nonce: number): SignedTx;
}

export class OutboxWriter {
  /** The market's chain address: the sender of everything it queues. */
  readonly sender: string;

  constructor(
    private readonly privateKey: string,
    private readonly clock: Clock,
  ) {
    this.sender = addressFromPublicKey(publicKeyFromPrivate(privateKey));
  }

  /** Queues a SUBMIT_RESULT for each of these completed tasks (once per task, ever). */
  async queueResults(tx: Queryable, taskIds: readonly string[]): Promise<number> {
    const results = await completedResults(tx, taskIds);
    return this.enqueue(
      tx,
      results.map((r) => ({
        kind: 'SUBMIT_RESULT',
        dedupKey: resultDedupKey(r.task_id),
        build: (nonce) =>
          this.sign({
            tx_type: 'SUBMIT_RESULT',
            result: taskComputeResult({ ...r, nonce }, this.privateKey),
            nonce,
          }),
      })),
    );
  }

  /** Queues a carried bundle's receipt (spec "Courier Mode"); a second send of it changes nothing. */
  async queueBundle(db: Db, bundleHash: string, sender: string): Promise<OutboxRow> {
    const key = bundleDedupKey(bundleHash, sender);
    await db.transaction((tx) =>
      this.enqueue(tx, [
        {
          kind: 'SUBMIT_RESULT',
          dedupKey: key,
          build: (nonce) =>
            this.sign({
              tx_type: 'SUBMIT_RESULT',
              result: bundleComputeResult(bundleHash, sender, nonce, this.privateKey),
              nonce,
            }),
        },
      ]),
    );
    return (await getOutboxByKey(db, key)) as OutboxRow;
  }

  /** Records the worker shares of receipts settled in Real mode, for the next payout flush. */
  async queuePayouts(tx: Queryable, rows: readonly PayoutRow[]): Promise<void> {
    await insertPayouts(
      tx,
      rows.filter((r) => r.asset === PAYOUT_ASSET),
      unixSeconds(this.clock),
    );
  }

  /**
   * One payout flush: up to `limit` waiting payouts become one TRANSFER per provider (batchPayouts)
   * and leave the providers' balances for `paid_out`, all in one transaction. Returns the
   * number of TRANSFERs queued.
   */
  async flushPayouts(db: Db, limit: number): Promise<number> {
    return db.transaction(async (tx) => {
      const claimed = await claimUnbatched(tx, PAYOUT_ASSET, limit);
      if (claimed.length === 0) return 0;
      const plan = batchPayouts(
        claimed.map((p) => ({ ...p, amount: BigInt(p.amount) })),
        MAX_AMOUNT,
      );
      const batchId = randomUUID();
      const queued = await this.enqueue(
        tx,
        plan.transfers.map((t, n) => ({
          kind: 'TRANSFER',
          dedupKey: payoutDedupKey(batchId, n),
          build: (nonce) => this.sign({ tx_type: 'TRANSFER', to_address: t.to, amount: t.amount, nonce }),
        })),
      );
      const now = unixSeconds(this.clock);
      const accounts = await providerAccounts(
        tx,
        plan.transfers.map((t) => t.to),
        PAYOUT_ASSET,
        now,
      );
      const postings: Posting[] = plan.transfers.flatMap((t) => [
        { accountId: accounts.get(t.to) as string, asset: PAYOUT_ASSET, amount: -t.amount },
        { accountId: SYSTEM_ACCOUNTS.paid_out, asset: PAYOUT_ASSET, amount: t.amount },
      ]);
      if (postings.length > 0)
        await appendJournals(tx, [{ journalId: batchId, kind: 'payout', ref: batchId, postings }], now);
      // Rejected entries (an address the chain cannot take) are marked too, so they are not
      // claimed again every flush; their money stays on the provider's balance.
      await markBatched(
        tx,
        claimed.map((p) => p.receipt_key),
        batchId,
        now,
      );
      return queued;
    });
  }

  /**
   * Signs and inserts the drafts whose dedup key is new, at consecutive nonces. The nonce lock
   * comes first, so the check for existing keys sees every earlier enqueue committed.
   */
  private async enqueue(tx: Queryable, drafts: readonly Draft[]): Promise<number> {
    if (drafts.length === 0) return 0;
    const next = await lockNextNonce(tx, this.sender);
    const seen = await existingDedupKeys(
      tx,
      drafts.map((d) => d.dedupKey),
    );
    const fresh = drafts.filter((d) => !seen.has(d.dedupKey) && (seen.add(d.dedupKey), true));
    const rows = fresh.map((d, i) => {
      const signed = d.build(next + i);
      return {
        kind: d.kind,
        dedup_key: d.dedupKey,
        sender: this.sender,
        nonce: signed.nonce,
        body: encodeTx(signed),
        tx_hash: txHash(signed),
      };
    });
    const inserted = await insertOutbox(tx, rows, this.clock.nowMs());
    // A skipped row would leave a nonce gap that stalls every later transaction on the chain.
    if (inserted !== rows.length) throw new Error('outbox: a dedup key appeared under the nonce lock');
    await setNextNonce(tx, this.sender, next + rows.length);
    return inserted;
  }

  private sign(draft: UntimedDraft): SignedTx {
    return signTx(this.privateKey, { ...draft, timestamp: unixSeconds(this.clock) } as TxDraft);
  }
}
