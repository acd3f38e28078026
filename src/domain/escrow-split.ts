// Mixed CT/IT escrow (spec/compute-market.md "Mixed CT/IT Escrow"): an offer's `fee_pct_ct` is
// the consumer-token percentage of a price; the rest is paid in industrial tokens. The buyer's
// escrow is held in that proportion at admission, the provider is paid in it at settlement, and
// whatever is left is refunded per asset.
//
// Rounding rule: CT = floor(amount × pct / 100), IT = amount − CT. CT never exceeds its
// percentage, IT takes the odd base unit, and ct + it is always exactly the amount; fee 0 is all
// IT and fee 100 all CT with nothing to round.
//
// Several charges against one hold (a task of several jobs) must not be split one by one: the
// floors of the pieces do not add up to the floor of the sum, and IT could be charged more than
// was held (hold 3 at 50% = 1 CT + 2 IT; three charges of 1 would each be 0 CT + 1 IT = 3 IT).
// `splitIncrement` splits the running total instead, so the charges always add up to the split
// of everything charged, which never exceeds the hold in either asset.

import { transfer, type Posting } from './ledger.js';
import { formatAmount } from './money.js';

export interface CtIt {
  ct: bigint;
  it: bigint;
}

/** True for an integer percentage 0..100, the only `fee_pct_ct` an offer may carry. */
export function isFeePctCt(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 100;
}

/** Splits a non-negative amount into its CT and IT parts (rounding rule above). */
export function splitEscrow(amount: bigint, feePctCt: number): CtIt {
  if (amount < 0n) throw new RangeError('only a non-negative amount can be split into CT and IT');
  if (!isFeePctCt(feePctCt)) throw new RangeError('fee_pct_ct must be an integer from 0 to 100');
  const ct = (amount * BigInt(feePctCt)) / 100n;
  return { ct, it: amount - ct };
}

/**
 * The CT/IT parts of charging `amount` more when `alreadyCharged` has been charged against the
 * same hold at the same percentage: split(alreadyCharged + amount) − split(alreadyCharged).
 * Both parts are non-negative because each side of the split grows with the amount.
 */
export function splitIncrement(alreadyCharged: bigint, amount: bigint, feePctCt: number): CtIt {
  if (alreadyCharged < 0n) throw new RangeError('the amount already charged cannot be negative');
  const before = splitEscrow(alreadyCharged, feePctCt);
  const after = splitEscrow(alreadyCharged + amount, feePctCt);
  return { ct: after.ct - before.ct, it: after.it - before.it };
}

/**
 * What goes back to the buyer when the task ends: the hold minus everything charged, asset by
 * asset. This is "refunded using the original percentages" in the only form that empties the
 * escrow exactly; re-splitting the leftover total could be 1 base unit off in each asset.
 * Throws if the charges exceed the hold in either asset (a bug upstream, never rounded away).
 */
export function residualRefund(held: CtIt, charged: CtIt): CtIt {
  const ct = held.ct - charged.ct;
  const it = held.it - charged.it;
  if (ct < 0n || it < 0n) throw new RangeError('more was charged than the escrow holds');
  return { ct, it };
}

export type HoldResult = { ok: true; held: CtIt; balances: CtIt } | { ok: false; missing: CtIt; held: CtIt };

/**
 * Admission: holds `price` from a buyer's CT and IT balances in the offer's proportion. Fails
 * (holding nothing) when either asset is short, and says by how much.
 */
export function holdEscrow(balances: CtIt, price: bigint, feePctCt: number): HoldResult {
  const held = splitEscrow(price, feePctCt);
  const missing = {
    ct: held.ct > balances.ct ? held.ct - balances.ct : 0n,
    it: held.it > balances.it ? held.it - balances.it : 0n,
  };
  if (missing.ct > 0n || missing.it > 0n) return { ok: false, missing, held };
  return { ok: true, held, balances: { ct: balances.ct - held.ct, it: balances.it - held.it } };
}

/** The assets of a task's escrow: its consumer token and its industrial token. */
export interface EscrowAssets {
  asset: string;
  it_asset: string;
}

/** A CT/IT pair as amounts of a task's two assets: its CT part in `asset`, its IT part in `it_asset`. */
export function byAsset(assets: EscrowAssets, parts: CtIt): [asset: string, amount: bigint][] {
  return [
    [assets.asset, parts.ct],
    [assets.it_asset, parts.it],
  ];
}

/**
 * Moves a CT/IT amount from one account to another in a task's two assets: the postings of an
 * escrow hold or refund, with no zero legs (a 100% CT task has no IT postings).
 */
export function splitTransfer(from: string, to: string, assets: EscrowAssets, parts: CtIt): Posting[] {
  const out: Posting[] = [];
  for (const [asset, amount] of byAsset(assets, parts))
    if (amount > 0n) out.push(...transfer(from, to, asset, amount));
  return out;
}

/** A CT/IT pair as the API shows it: exact decimal strings. */
export function ctIt(parts: CtIt): { ct: string; it: string } {
  return { ct: formatAmount(parts.ct), it: formatAmount(parts.it) };
}
