// The admission service's provider budget: charged per industrial job, refused past cap + burst,
// given back for a job that was not leased, and decaying over the usage window.

import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/clock.js';
import { validateParams } from '../../src/domain/scheduler-params.js';
import { AdmissionService } from '../../src/market/admission.js';
import { MarketEventBus } from '../../src/market/events.js';

function service(offered: number) {
  const clock = new ManualClock(1_800_000_000_000);
  const result = validateParams({ fair_share_cap: 0.01, burst_quota: 10, burst_refill_rate: 0 });
  if (!result.ok) throw new Error('params');
  const params = result.params;
  const admission = new AdmissionService(
    clock,
    new MarketEventBus(),
    () => params,
    () => null,
    () => offered,
  );
  return { clock, admission };
}

describe('provider fair share', () => {
  it('charges up to cap + burst, refuses past it, and takes back what was not leased', () => {
    // 1% of 100 units/s over 60 s: a cap of 60 units, and 10 more from the burst quota.
    const { admission } = service(100);
    for (let i = 0; i < 7; i++) expect(admission.chargeProvider('p', 10)).toBe(true);
    expect(admission.chargeProvider('p', 10)).toBe(false);
    expect(admission.providerSaturated('p')).toBe(true);
    expect(admission.usageOf('provider', 'p').usage).toBe(70);
    admission.unchargeProvider('p', 10);
    expect(admission.usageOf('provider', 'p').usage).toBe(60);
    expect(admission.providerSaturated('q')).toBe(false);
  });

  it('lets usage decay linearly over the window', () => {
    const { admission, clock } = service(100);
    for (let i = 0; i < 6; i++) admission.chargeProvider('p', 10);
    clock.advance(30_000);
    expect(admission.usageOf('provider', 'p').usage).toBe(30);
    clock.advance(30_000);
    admission.prune();
    expect(admission.usageOf('provider', 'p').usage).toBe(0);
  });
});
