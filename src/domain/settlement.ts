// Settlement rules: how a settled amount is divided between burn, worker, validators and
// treasury, and which settlement mode is in force. Pure: amounts are bigint base units, time
// is milliseconds passed in by the caller.
//
// Settlement modes:
//
//   DryRun ──arm(delay)──▶ Armed ──(armedAt + delayMs <= now)──▶ Real
//     ▲  ◀──disarm / failure──┘                                   │
//     └─────────────────────── disarm / failure ──────────────────┘
//
// DryRun (the default) records receipts and moves no balances. Real is reachable only through
// Armed, so an operator always gets a window (the configured delay, possibly 0) to change their
// mind. Any settlement failure drops back to DryRun and keeps the reason, so a broken market
// stops paying instead of paying wrongly.

/** The parties of a settled amount, in the spec's order; the order also breaks rounding ties. */
export const SPLIT_PARTIES = ['burn', 'worker', 'validators', 'treasury'] as const;
export type SplitParty = (typeof SPLIT_PARTIES)[number];

/** Shares in basis points (1/100 of a percent); they sum to exactly BPS_TOTAL. */
export type SplitShares = Readonly<Record<SplitParty, number>>;
export type SplitParts = Record<SplitParty, bigint>;

export const BPS_TOTAL = 10_000;

/** spec/task-market.md "Payment Distribution": 60% burned, 25% worker, 10% validators, 5% treasury. */
export const DEFAULT_SPLIT: SplitShares = Object.freeze({
  burn: 6000,
  worker: 2500,
  validators: 1000,
  treasury: 500,
});

/** Every problem with a proposed split, one line each; empty when it is valid. */
export function splitProblems(shares: unknown): string[] {
  if (typeof shares !== 'object' || shares === null || Array.isArray(shares))
    return ['split must be an object of basis points per party'];
  const o = shares as Record<string, unknown>;
  const out: string[] = [];
  for (const key of Object.keys(o))
    if (!(SPLIT_PARTIES as readonly string[]).includes(key))
      out.push(`unknown party "${key}" (expected ${SPLIT_PARTIES.join(', ')})`);
  let sum = 0;
  for (const party of SPLIT_PARTIES) {
    const v = o[party];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > BPS_TOTAL)
      out.push(`${party} must be an integer number of basis points between 0 and ${BPS_TOTAL}`);
    else sum += v;
  }
  if (out.length === 0 && sum !== BPS_TOTAL)
    out.push(`shares must sum to ${BPS_TOTAL} basis points (100%), got ${sum}`);
  return out;
}

/** Validates a split once and freezes it; throws a RangeError naming every problem. */
export function makeSplit(shares: unknown): SplitShares {
  const problems = splitProblems(shares);
  if (problems.length > 0) throw new RangeError(`invalid payment split: ${problems.join('; ')}`);
  const o = shares as SplitShares;
  return Object.freeze({ burn: o.burn, worker: o.worker, validators: o.validators, treasury: o.treasury });
}

/**
 * Divides `amount` base units by `shares` so that the parts sum to exactly `amount`.
 *
 * Rounding rule: largest remainder (Hamilton). Each party first gets the floor of its exact
 * share, amount × bps / 10000. The few base units left over (fewer than the number of parties)
 * go one each to the parties with the largest fractional remainders; equal remainders are broken
 * by SPLIT_PARTIES order (burn, worker, validators, treasury). So every part is the floor or the
 * ceiling of its exact share (never more than 1 base unit off), a 0-bps party always gets 0,
 * and the result depends on nothing but the amount and the shares. Giving all the dust to one
 * named party would be simpler but could put it up to 3 units off its share.
 */
export function splitAmount(amount: bigint, shares: SplitShares = DEFAULT_SPLIT): SplitParts {
  if (amount < 0n) throw new RangeError('only a non-negative amount can be split');
  const total = BigInt(BPS_TOTAL);
  const parts = {} as SplitParts;
  const remainders: { party: SplitParty; remainder: bigint }[] = [];
  let given = 0n;
  for (const party of SPLIT_PARTIES) {
    const scaled = amount * BigInt(shares[party]);
    parts[party] = scaled / total;
    given += parts[party];
    remainders.push({ party, remainder: scaled % total });
  }
  // Array.prototype.sort is stable, so equal remainders keep SPLIT_PARTIES order.
  remainders.sort((a, b) => (a.remainder === b.remainder ? 0 : a.remainder > b.remainder ? -1 : 1));
  for (let i = 0; given < amount; i++) {
    const r = remainders[i];
    // Unreachable with valid shares: the leftover is below the count of non-zero remainders.
    if (!r || r.remainder === 0n) throw new RangeError('payment split shares do not sum to 10000');
    parts[r.party] += 1n;
    given += 1n;
  }
  return parts;
}

export type SettlementMode = 'DryRun' | 'Armed' | 'Real';

export type SettlementState =
  /** `reason` is set when a failure (not the operator) put the market here. */
  | { mode: 'DryRun'; since: number; reason?: string }
  | { mode: 'Armed'; armedAt: number; delayMs: number }
  | { mode: 'Real'; since: number };

export const INITIAL_SETTLEMENT: SettlementState = Object.freeze({ mode: 'DryRun', since: 0 });

export type SettlementCommand = { type: 'arm'; delayMs: number } | { type: 'disarm' };

export interface ModeTransition {
  state: SettlementState;
  from: SettlementMode;
  to: SettlementMode;
  /** False when the state was already there: nothing to record, no mode-change metric. */
  changed: boolean;
}

/** The mode in force at `now`: Armed reads as Real once its delay has run out. */
export function modeAt(state: SettlementState, now: number): SettlementMode {
  if (state.mode === 'Armed' && state.armedAt + state.delayMs <= now) return 'Real';
  return state.mode;
}

/**
 * Writes down an Armed → Real turn that modeAt already reports, so the store and the
 * `settle_mode_change_total{to}` metric see it once. `since` is when the delay ran out, not when
 * somebody noticed. A clock that went backwards leaves Armed waiting.
 */
export function advance(state: SettlementState, now: number): ModeTransition {
  if (state.mode === 'Armed' && modeAt(state, now) === 'Real')
    return transition(state, { mode: 'Real', since: state.armedAt + state.delayMs });
  return transition(state, state);
}

/** Applies an operator command at `now`. Arming while Armed or Real changes nothing. */
export function applyCommand(
  state: SettlementState,
  command: SettlementCommand,
  now: number,
): ModeTransition {
  const current = advance(state, now).state;
  if (command.type === 'disarm')
    return transition(state, current.mode === 'DryRun' ? current : { mode: 'DryRun', since: now });
  if (!Number.isSafeInteger(command.delayMs) || command.delayMs < 0)
    throw new RangeError('the arming delay must be a non-negative integer number of milliseconds');
  if (current.mode !== 'DryRun') return transition(state, current);
  return transition(state, { mode: 'Armed', armedAt: now, delayMs: command.delayMs });
}

/** Any settlement failure: back to DryRun, keeping why, from whatever mode. */
export function onFailure(state: SettlementState, reason: string, now: number): ModeTransition {
  return transition(state, { mode: 'DryRun', since: now, reason });
}

function transition(before: SettlementState, after: SettlementState): ModeTransition {
  return {
    state: after,
    from: before.mode,
    to: after.mode,
    changed: before.mode !== after.mode,
  };
}
