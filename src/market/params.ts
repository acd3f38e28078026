// The scheduler's parameters at runtime: loaded from the database at start, changed by the
// operator (validated, persisted, audited), and read by every following decision.

import { MarketError, validationError } from '../domain/errors.js';
import { defaultParams, validateParams, type SchedulerParams } from '../domain/scheduler-params.js';
import type { Db } from '../store/db.js';
import { loadParams, saveParams } from '../store/scheduler.js';

export class SchedulerParamsService {
  private current: SchedulerParams;

  /** `base`: what the node uses while nothing is stored (tests start with admission off). */
  constructor(
    private readonly db: Db,
    base: Partial<SchedulerParams> = {},
  ) {
    const result = validateParams(base, defaultParams());
    if (!result.ok) throw new RangeError(`scheduler parameters: ${result.problems[0]?.message}`);
    this.current = result.params;
  }

  get(): SchedulerParams {
    return this.current;
  }

  async load(): Promise<void> {
    const stored = await loadParams(this.db);
    if (stored === undefined) return;
    const result = validateParams(stored);
    // Stored parameters that no longer validate (a newer bound) fall back to the defaults, loudly.
    if (!result.ok)
      throw new MarketError(
        'internal',
        `stored scheduler parameters are invalid: ${result.problems[0]?.message}`,
      );
    this.current = result.params;
  }

  async update(patch: unknown, actor: string, nowMs: number): Promise<SchedulerParams> {
    const result = validateParams(patch, this.current);
    if (!result.ok) throw validationError(result.problems.map((p) => ({ path: p.path, message: p.message })));
    await this.db.transaction((tx) => saveParams(tx, result.params, patch, actor, nowMs));
    this.current = result.params;
    return result.params;
  }
}
