// Money: amounts are bigint base units; the API speaks exact decimal strings.
// CPC has 18 decimals (1 CPC = 10^18 base units). Parsing never goes through a float.

export const CPC = 'CPC';
export const CPC_DECIMALS = 18;

/**
 * The industrial token of spec/compute-market.md "Mixed CT/IT Escrow"; CPC is the consumer token
 * (CT). Both have 18 decimals, so one parser serves both; only CPC moves on the chain.
 */
export const IT = 'IT';

/** The assets an account can hold, CT first: the order balances are locked in. */
export const ASSETS = [CPC, IT] as const;
export type Asset = (typeof ASSETS)[number];

/** The largest amount the ledger accepts for one posting: 10^30 CPC, far above any supply. */
export const MAX_AMOUNT = 10n ** 48n;

const DECIMAL = /^(0|[1-9][0-9]*)(?:\.([0-9]+))?$/;

export type AmountProblem = 'not_decimal' | 'too_precise' | 'too_large';

export type ParsedAmount = { ok: true; value: bigint } | { ok: false; problem: AmountProblem };

/**
 * Parses a plain decimal string ("10", "10.0", "0.000000000000000001") into base units.
 * Signs, exponents, spaces, leading zeros ("01") and a bare "." are not amounts.
 */
export function parseAmount(text: string, decimals = CPC_DECIMALS): ParsedAmount {
  const m = DECIMAL.exec(text);
  if (!m) return { ok: false, problem: 'not_decimal' };
  const whole = m[1] as string;
  const fraction = m[2] ?? '';
  if (fraction.length > decimals) return { ok: false, problem: 'too_precise' };
  const value = BigInt(whole) * 10n ** BigInt(decimals) + BigInt(fraction.padEnd(decimals, '0') || '0');
  if (value > MAX_AMOUNT) return { ok: false, problem: 'too_large' };
  return { ok: true, value };
}

/** Formats base units as the shortest decimal with at least one fraction digit: 10^19 → "10.0". */
export function formatAmount(value: bigint, decimals = CPC_DECIMALS): string {
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const scale = 10n ** BigInt(decimals);
  const whole = abs / scale;
  let fraction = (abs % scale).toString().padStart(decimals, '0').replace(/0+$/, '');
  if (fraction === '') fraction = '0';
  return `${negative ? '-' : ''}${whole}.${fraction}`;
}

export function describeAmountProblem(problem: AmountProblem, decimals = CPC_DECIMALS): string {
  switch (problem) {
    case 'not_decimal':
      return 'must be a plain decimal string such as "10.0" (no sign, exponent or spaces)';
    case 'too_precise':
      return `must have at most ${decimals} decimal places`;
    case 'too_large':
      return 'is larger than the ledger accepts';
  }
}
