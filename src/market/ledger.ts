// The books, checked: one function reads the ledger and applies the domain's invariants.

import { ledgerViolations, SYSTEM_ACCOUNTS } from '../domain/ledger.js';
import { formatAmount } from '../domain/money.js';
import type { LedgerReport } from '../domain/schemas/accounts.js';
import type { Queryable } from '../store/db.js';
import { bondTotals } from '../store/bonds.js';
import { readLedgerSnapshot } from '../store/ledger.js';

export async function verifyLedger(q: Queryable): Promise<LedgerReport> {
  const snapshot = await readLedgerSnapshot(
    q,
    SYSTEM_ACCOUNTS.escrow,
    SYSTEM_ACCOUNTS.burn,
    SYSTEM_ACCOUNTS.external,
  );
  const violations = ledgerViolations({
    ...snapshot,
    bonds: await bondTotals(q, SYSTEM_ACCOUNTS.bonds),
  });
  return {
    ok: violations.length === 0,
    assets: snapshot.assets.map((a) => ({
      asset: a.asset,
      funded: formatAmount(-a.external),
      held_in_escrow: formatAmount(a.escrow),
      burned: formatAmount(a.burned),
    })),
    violations,
  };
}
