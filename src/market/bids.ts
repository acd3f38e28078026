// Bid commit–reveal (domain/bid-commit.ts): a customer commits an industrial bid as a hash; the
// market records it and queues its BidTx in one transaction, and the courier carries it to a
// block like any other outbox entry. A reveal is taken only once that block has two blocks on
// top, and only if (salt, task) hash to the commitment; then, and only then, the task is created
// (escrow held, queued for scheduling), so a bid cannot be matched before it is revealed. A
// refused reveal changes nothing: the bid stays committed and can be revealed again.

import { randomUUID } from 'node:crypto';
import { laneOf } from '../domain/admission.js';
import { bidDedupKey, checkReveal, HEX64 } from '../domain/bid-commit.js';
import { secondsOf } from '../domain/clock.js';
import { MarketError, validationError } from '../domain/errors.js';
import type { CreateTaskBody } from '../domain/schemas/tasks.js';
import { ChainError } from '../chain/port.js';
import { getBid, insertBid, markRevealed, type BidRow } from '../store/bids.js';
import type { Market } from './market.js';
import type { Principal } from './tasks.js';

export interface BidView {
  bid_id: string;
  commitment: string;
  status: 'committed' | 'revealed';
  /** Where the BidTx is: pending, sent, included, final (held or failed need the operator). */
  commit_tx_status: string | null;
  commit_tx_hash: string | null;
  /** The block holding the BidTx, once one does. */
  commit_height: number | null;
  /** The first head height at which a reveal is taken. */
  reveal_from: number | null;
  task_id: string | null;
  created_at: number;
}

function customerOf(principal: Principal): string {
  if (principal.kind !== 'customer')
    throw new MarketError('forbidden', 'bids are made by customer accounts; use a customer API key');
  return principal.accountId;
}

function view(b: BidRow): BidView {
  return {
    bid_id: b.bid_id,
    commitment: b.commitment,
    status: b.status,
    commit_tx_status: b.tx_status,
    commit_tx_hash: b.tx_hash,
    commit_height: b.commit_height,
    reveal_from: b.commit_height === null ? null : b.commit_height + 2,
    task_id: b.task_id,
    created_at: secondsOf(b.created_at_ms),
  };
}

export class BidBook {
  constructor(private readonly market: Market) {}

  private link() {
    const link = this.market.chainLink;
    if (!link) throw new MarketError('unavailable', 'bids need a chain (chain = "off")');
    return link;
  }

  /** Records a commitment and queues its BidTx. */
  async commit(principal: Principal, commitment: string): Promise<BidView> {
    const accountId = customerOf(principal);
    if (!HEX64.test(commitment))
      throw validationError([{ path: '/commitment', message: 'must be a SHA-256 hash, 64 lowercase hex' }]);
    const link = this.link();
    const bidId = randomUUID();
    const nowMs = this.market.clock.nowMs();
    const created = await this.market.db.transaction(async (tx) => {
      if (!(await insertBid(tx, { bid_id: bidId, account_id: accountId, commitment, created_at_ms: nowMs })))
        return false;
      await link.outbox.queueBid(tx, bidId, commitment);
      return true;
    });
    if (!created) throw new MarketError('conflict', 'a bid with this commitment exists: commit a fresh salt');
    return this.get(principal, bidId);
  }

  async get(principal: Principal, bidId: string): Promise<BidView> {
    return view(await this.owned(principal, bidId));
  }

  /**
   * Reveals a bid: refused `reveal_too_early` before its BidTx's block has two blocks on top,
   * `commitment_mismatch` when (salt, task) do not hash to the commitment; otherwise its task is
   * created (once: a reveal sent again answers the same task).
   */
  async reveal(principal: Principal, bidId: string, salt: string, task: CreateTaskBody): Promise<BidView> {
    const bid = await this.owned(principal, bidId);
    if (bid.status === 'revealed') return view(bid);
    if (!HEX64.test(salt))
      throw validationError([{ path: '/salt', message: 'must be 32 bytes as 64 lowercase hex' }]);
    let headHeight: number;
    try {
      headHeight = (await this.link().port.head()).height;
    } catch (err) {
      if (err instanceof ChainError)
        throw new MarketError('unavailable', `cannot read the chain: ${err.message}`);
      throw err;
    }
    const verdict = checkReveal({
      commitment: bid.commitment,
      commitHeight: bid.commit_height ?? undefined,
      headHeight,
      salt,
      state: task,
    });
    if (!verdict.ok)
      throw new MarketError(verdict.code, verdict.message, {
        commit_height: bid.commit_height,
        head: headHeight,
        ...(verdict.code === 'reveal_too_early' && verdict.revealFrom !== undefined
          ? { reveal_from: verdict.revealFrom }
          : {}),
      });
    const lane = laneOf(task.challenge_type, this.market.params.get());
    if (lane !== 'industrial')
      throw validationError([
        {
          path: '/task/challenge_type',
          message: `bids are for industrial work; ${task.challenge_type} is in the ${lane} lane (create it with POST /tasks)`,
        },
      ]);
    // The idempotency key makes a second reveal (or one after a crash here) find the same task.
    const created = await this.market.tasks.create(principal, task, bidDedupKey(bidId));
    await markRevealed(this.market.db, bidId, created.response.task_id, this.market.clock.nowMs());
    return view(await this.owned(principal, bidId));
  }

  private async owned(principal: Principal, bidId: string): Promise<BidRow> {
    const accountId = customerOf(principal);
    const bid = await getBid(this.market.db, bidId, bidDedupKey(bidId));
    if (!bid || bid.account_id !== accountId) throw new MarketError('not_found', `no bid ${bidId}`);
    return bid;
  }
}
