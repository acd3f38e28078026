// SLA bonds (spec "Industrial Admission & Fee Lanes": penalize_sla; "Cancellations": refunds
// posted bonds). With sla_bond_pct > 0 a provider posts sla_bond_pct of an industrial job's price
// from its account when the job is leased to it. The bond comes back when the job completes, is
// cancelled by the client or put back in the queue; when the task's deadline passes while the job
// still runs on the provider, the bond is slashed to the treasury. Every move is a ledger journal
// in the caller's transaction, and each bond is taken from its job row once, so nothing moves twice.

import { randomUUID } from 'node:crypto';
import { SYSTEM_ACCOUNTS, transfer, type Journal } from '../domain/ledger.js';
import { CPC } from '../domain/money.js';
import type { Queryable } from '../store/db.js';
import { setBonds, takeBonds, unbatchedPayouts, type TakenBond } from '../store/bonds.js';
import { appendJournals, lockBalances } from '../store/ledger.js';
import { providerAccounts } from '../store/settlement.js';

export { bondFor } from '../domain/scheduling/bonds.js';

export interface BondRequest {
  jobId: string;
  provider: string;
  bond: bigint;
}

/**
 * Which of these bonds the providers can post now (balance plus credit, in request order), with
 * their balances locked until the caller's transaction ends. A job whose bond cannot be posted is
 * not leased this tick.
 */
export async function affordableBonds(
  tx: Queryable,
  requests: readonly BondRequest[],
  nowMs: number,
): Promise<Set<string>> {
  const ok = new Set<string>();
  const bonded = requests.filter((r) => r.bond > 0n);
  for (const r of requests) if (r.bond === 0n) ok.add(r.jobId);
  if (bonded.length === 0) return ok;
  const accounts = await providerAccounts(
    tx,
    bonded.map((r) => r.provider),
    CPC,
    nowMs,
  );
  // The bonds account is locked with the providers', in the one sorted order every transaction
  // that moves bonds or escrow uses (escrow, bonds, then parties), so they never deadlock.
  const balances = await lockBalances(tx, [SYSTEM_ACCOUNTS.bonds, ...new Set(accounts.values())], CPC);
  // Earnings already owed out on chain (payouts not yet batched) are not there to bond.
  const owed = await unbatchedPayouts(
    tx,
    bonded.map((r) => r.provider),
  );
  const left = new Map<string, bigint>();
  for (const [address, id] of accounts) {
    const b = balances.get(id);
    if (b) left.set(id, BigInt(b.amount) + BigInt(b.credit_limit) - (owed.get(address) ?? 0n));
  }
  for (const r of bonded) {
    const account = accounts.get(r.provider);
    const available = account === undefined ? 0n : (left.get(account) ?? 0n);
    if (account === undefined || available < r.bond) continue;
    left.set(account, available - r.bond);
    ok.add(r.jobId);
  }
  return ok;
}

/** Posts the bonds of jobs just leased: provider → bonds, recorded on the job rows. */
export async function postBonds(tx: Queryable, bonds: readonly BondRequest[], nowMs: number): Promise<void> {
  const posted = bonds.filter((b) => b.bond > 0n);
  if (posted.length === 0) return;
  const accounts = await providerAccounts(
    tx,
    posted.map((b) => b.provider),
    CPC,
    nowMs,
  );
  await setBonds(
    tx,
    posted.map((b) => ({ job_id: b.jobId, bond: b.bond })),
  );
  await moveBonds(
    tx,
    'bond_post',
    posted.map((b) => ({
      jobId: b.jobId,
      from: accounts.get(b.provider) as string,
      to: SYSTEM_ACCOUNTS.bonds,
      amount: b.bond,
    })),
    nowMs,
  );
}

/** Gives the bonds of these jobs back to their providers; returns what moved. */
export async function returnBonds(
  tx: Queryable,
  jobIds: readonly string[],
  nowMs: number,
): Promise<TakenBond[]> {
  const taken = await takeBonds(tx, jobIds);
  if (taken.length === 0) return taken;
  const accounts = await providerAccounts(
    tx,
    taken.map((t) => t.worker_address),
    CPC,
    nowMs,
  );
  await moveBonds(
    tx,
    'bond_return',
    taken.map((t) => ({
      jobId: t.job_id,
      from: SYSTEM_ACCOUNTS.bonds,
      to: accounts.get(t.worker_address) as string,
      amount: BigInt(t.bond),
    })),
    nowMs,
  );
  return taken;
}

/** penalize_sla: the bonds of these jobs go to the treasury; returns what was slashed. */
export async function slashBonds(
  tx: Queryable,
  jobIds: readonly string[],
  nowMs: number,
): Promise<TakenBond[]> {
  const taken = await takeBonds(tx, jobIds);
  await moveBonds(
    tx,
    'bond_slash',
    taken.map((t) => ({
      jobId: t.job_id,
      from: SYSTEM_ACCOUNTS.bonds,
      to: SYSTEM_ACCOUNTS.treasury,
      amount: BigInt(t.bond),
    })),
    nowMs,
  );
  return taken;
}

/** One journal per bond moved, referring to its job. */
async function moveBonds(
  tx: Queryable,
  kind: 'bond_post' | 'bond_return' | 'bond_slash',
  moves: readonly { jobId: string; from: string; to: string; amount: bigint }[],
  nowMs: number,
): Promise<void> {
  await appendJournals(
    tx,
    moves.map((m): Journal => ({
      journalId: randomUUID(),
      kind,
      ref: m.jobId,
      postings: transfer(m.from, m.to, CPC, m.amount),
    })),
    nowMs,
  );
}
