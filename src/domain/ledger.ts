// Double-entry rules. A journal is a set of postings that sums to zero per asset; the
// invariants below are what every ledger test, the node's self-check and `ledger verify` assert.

import { formatAmount } from './money.js';

export const SYSTEM_ACCOUNTS = {
  escrow: '00000000-0000-0000-0000-000000000001',
  external: '00000000-0000-0000-0000-000000000002',
  burn: '00000000-0000-0000-0000-000000000003',
  validators: '00000000-0000-0000-0000-000000000004',
  treasury: '00000000-0000-0000-0000-000000000005',
  /** Worker payouts sent to the chain as TRANSFERs (migration 0005). */
  paid_out: '00000000-0000-0000-0000-0000000000c1',
  /** SLA bonds posted by providers on their running industrial jobs (migration 0007). */
  bonds: '00000000-0000-0000-0000-0000000000b1',
} as const;

export type JournalKind =
  | 'fund'
  | 'escrow_hold'
  | 'escrow_refund'
  | 'settlement'
  | 'payout'
  | 'bond_post'
  | 'bond_return'
  | 'bond_slash'
  // Validators' share paid to the providers that audited a settled job (disputes).
  | 'audit_pay';

export interface Posting {
  accountId: string;
  asset: string;
  amount: bigint;
}

export interface Journal {
  journalId: string;
  kind: JournalKind;
  ref: string | null;
  postings: Posting[];
}

/** Moves `amount` from one account to another: the smallest balanced journal. */
export function transfer(from: string, to: string, asset: string, amount: bigint): Posting[] {
  if (amount <= 0n) throw new RangeError('a transfer moves a positive amount');
  return [
    { accountId: from, asset, amount: -amount },
    { accountId: to, asset, amount },
  ];
}

export function isBalanced(postings: readonly Posting[]): boolean {
  const sums = new Map<string, bigint>();
  for (const p of postings) sums.set(p.asset, (sums.get(p.asset) ?? 0n) + p.amount);
  return [...sums.values()].every((s) => s === 0n);
}

/** Sums postings per (account, asset): what one commit adds to the balances table. */
export function balanceDeltas(postings: readonly Posting[]): Posting[] {
  const sums = new Map<string, Posting>();
  for (const p of postings) {
    const key = `${p.accountId}/${p.asset}`;
    const seen = sums.get(key);
    if (seen) seen.amount += p.amount;
    else sums.set(key, { ...p });
  }
  return [...sums.values()].filter((p) => p.amount !== 0n);
}

/** What the store reads back to check the books; the queries live in src/store/ledger.ts. */
export interface LedgerSnapshot {
  assets: {
    asset: string;
    /** Sum of every balance, the external account included: zero when money is conserved. */
    balanceSum: bigint;
    external: bigint;
    escrow: bigint;
    escrowHeldByTasks: bigint;
    burned: bigint;
  }[];
  unbalancedJournals: string[];
  driftedBalances: { accountId: string; asset: string; balance: bigint; entries: bigint }[];
  /** The bonds account's CPC balance and what running jobs hold as bonds; absent in older snapshots. */
  bonds?: { account: bigint; heldByJobs: bigint };
  overdrawn: { accountId: string; asset: string; balance: bigint; creditLimit: bigint }[];
}

/**
 * The conservation invariant: for every asset, all balances plus burned equal everything ever
 * funded (equivalently, all balances with the external account sum to zero); each balance is
 * the sum of its entries; every journal balances; escrow holds exactly what open tasks hold;
 * no customer is below minus its credit limit. Returns one line per violation.
 */
export function ledgerViolations(s: LedgerSnapshot): string[] {
  const out: string[] = [];
  for (const a of s.assets) {
    if (a.balanceSum !== 0n)
      out.push(`${a.asset}: balances sum to ${formatAmount(a.balanceSum)}, not zero (money created or lost)`);
    if (a.escrow !== a.escrowHeldByTasks)
      out.push(
        `${a.asset}: escrow account holds ${formatAmount(a.escrow)} but tasks hold ${formatAmount(a.escrowHeldByTasks)}`,
      );
  }
  if (s.bonds && s.bonds.account !== s.bonds.heldByJobs)
    out.push(
      `bonds account holds ${formatAmount(s.bonds.account)} but jobs hold ${formatAmount(s.bonds.heldByJobs)}`,
    );
  for (const j of s.unbalancedJournals) out.push(`journal ${j} does not sum to zero`);
  for (const d of s.driftedBalances)
    out.push(
      `account ${d.accountId} ${d.asset}: balance ${formatAmount(d.balance)} but entries sum to ${formatAmount(d.entries)}`,
    );
  for (const o of s.overdrawn)
    out.push(
      `account ${o.accountId} ${o.asset}: balance ${formatAmount(o.balance)} is below its credit limit ${formatAmount(o.creditLimit)}`,
    );
  return out;
}
