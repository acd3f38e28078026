import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { balanceDeltas, isBalanced, ledgerViolations, transfer } from '../../src/domain/ledger.js';

describe('ledger rules', () => {
  it('a transfer balances and refuses non-positive amounts', () => {
    expect(isBalanced(transfer('a', 'b', 'CPC', 5n))).toBe(true);
    expect(() => transfer('a', 'b', 'CPC', 0n)).toThrow(RangeError);
  });

  it('balance deltas of any set of transfers sum to zero per asset and match per-account sums', () => {
    const accounts = ['a', 'b', 'c', 'd'];
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            from: fc.constantFrom(...accounts),
            to: fc.constantFrom(...accounts),
            asset: fc.constantFrom('CPC', 'IT'),
            amount: fc.bigInt({ min: 1n, max: 10n ** 30n }),
          }),
        ),
        (moves) => {
          const postings = moves.flatMap((m) => transfer(m.from, m.to, m.asset, m.amount));
          const deltas = balanceDeltas(postings);
          expect(isBalanced(deltas)).toBe(true);
          for (const d of deltas) {
            const direct = postings
              .filter((p) => p.accountId === d.accountId && p.asset === d.asset)
              .reduce((s, p) => s + p.amount, 0n);
            expect(d.amount).toBe(direct);
          }
        },
      ),
    );
  });

  it('names each violation of the invariant', () => {
    const v = ledgerViolations({
      assets: [
        { asset: 'CPC', balanceSum: 1n, external: -10n, escrow: 5n, escrowHeldByTasks: 4n, burned: 0n },
      ],
      unbalancedJournals: ['j1'],
      driftedBalances: [],
      overdrawn: [],
    });
    expect(v).toHaveLength(3);
    expect(v[0]).toContain('not zero');
  });
});
