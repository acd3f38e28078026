// Effective price (spec "Capability-Based Scheduling"): price_per_unit × reputation_multiplier,
// × the fixed 1.2 accelerator premium when the job asks for an accelerator. It ranks offers; the
// customer still pays the provider's own price. Exact integer arithmetic: multipliers are integers
// of parts per million, so 0.8 is 800_000 and nothing goes through a float.

import { ACCELERATOR_PREMIUM } from './scheduler-params.js';

export const PPM = 1_000_000;
const PPM_N = 1_000_000n;

/** 1.2 as parts per million. */
export const ACCELERATOR_PREMIUM_PPM = toPpm(ACCELERATOR_PREMIUM);

/** A decimal factor as integer parts per million, to the nearest ppm (0.8 → 800_000). */
export function toPpm(factor: number): number {
  if (!Number.isFinite(factor) || factor < 0)
    throw new RangeError(`factor ${factor} is not a non-negative number`);
  return Math.round(factor * PPM);
}

function checkPpm(ppm: number): bigint {
  if (!Number.isSafeInteger(ppm) || ppm < 0) throw new RangeError(`multiplier ${ppm} ppm is not a whole ppm`);
  return BigInt(ppm);
}

/**
 * The exact effective price in units of 10⁻¹² base units: price × multiplier ppm × premium ppm.
 * Ranking compares these, so rounding never creates or breaks a tie.
 */
export function effectivePriceScaled(
  pricePerUnit: bigint,
  multiplierPpm: number,
  acceleratorRequested: boolean,
): bigint {
  if (pricePerUnit < 0n) throw new RangeError('a price is never negative');
  return (
    pricePerUnit * checkPpm(multiplierPpm) * (acceleratorRequested ? BigInt(ACCELERATOR_PREMIUM_PPM) : PPM_N)
  );
}

/**
 * Effective price per unit in base units, rounded down: what dashboards and the
 * `scheduler_effective_price` gauge show. 100 × 0.8 = 80; with an accelerator 100 × 0.8 × 1.2 = 96.
 */
export function effectivePrice(
  pricePerUnit: bigint,
  multiplierPpm: number,
  acceleratorRequested: boolean,
): bigint {
  return effectivePriceScaled(pricePerUnit, multiplierPpm, acceleratorRequested) / (PPM_N * PPM_N);
}
