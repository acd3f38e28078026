import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canTransition,
  FINAL_STATUSES,
  isFinal,
  statusesLeadingTo,
  TASK_STATUSES,
  type TaskStatus,
} from '../../src/domain/task-state.js';

describe('task state machine', () => {
  it('follows the drawn transitions', () => {
    expect(canTransition('pending', 'in_progress')).toBe(true);
    expect(canTransition('in_progress', 'completed')).toBe(true);
    expect(canTransition('pending', 'cancelled')).toBe(true);
    expect(canTransition('in_progress', 'failed')).toBe(true);
    expect(canTransition('pending', 'completed')).toBe(false);
    expect(canTransition('completed', 'cancelled')).toBe(false);
  });

  it('gives the store the statuses each write may start from', () => {
    expect(statusesLeadingTo('in_progress')).toEqual(['pending']);
    expect(statusesLeadingTo('completed')).toEqual(['in_progress']);
    expect(statusesLeadingTo('failed')).toEqual(['pending', 'in_progress']);
    expect(statusesLeadingTo('cancelled')).toEqual(['pending', 'in_progress']);
  });

  it('never leaves a final status, and every walk ends where it last moved legally', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...TASK_STATUSES), { maxLength: 30 }), (attempts) => {
        let status: TaskStatus = 'pending';
        for (const next of attempts) {
          const wasFinal = isFinal(status);
          if (canTransition(status, next)) {
            expect(wasFinal).toBe(false);
            status = next;
          }
        }
        if (FINAL_STATUSES.includes(status))
          for (const s of TASK_STATUSES) expect(canTransition(status, s)).toBe(false);
      }),
    );
  });
});
