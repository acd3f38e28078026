import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  computeUnitsForBytes,
  inferenceUnits,
  MIB,
  planJobs,
  renderJobs,
  sliceRanges,
  syntheticUnits,
  totalUnits,
  trainingUnits,
  type WorkInfo,
} from '../../src/domain/work.js';

describe('byte slices', () => {
  it('counts one unit per started MiB, and one for an empty input', () => {
    expect(computeUnitsForBytes(0)).toBe(1);
    expect(computeUnitsForBytes(1)).toBe(1);
    expect(computeUnitsForBytes(MIB)).toBe(1);
    expect(computeUnitsForBytes(MIB + 1)).toBe(2);
    expect(computeUnitsForBytes(10 * MIB)).toBe(10);
  });

  it('an empty input is one empty slice', () => {
    expect(sliceRanges(0)).toEqual([{ index: 0, start: 0, end: 0 }]);
  });

  it('slices cover the input exactly, in order, without overlap, one MiB each but the last', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.integer({ min: 0, max: 64 * MIB }),
          fc.integer({ min: 0, max: 64 }).map((k) => k * MIB),
        ),
        (n) => {
          const slices = sliceRanges(n);
          expect(slices.length).toBe(Math.max(1, Math.ceil(n / MIB)));
          expect(slices.length).toBe(computeUnitsForBytes(n));
          let next = 0;
          slices.forEach((s, i) => {
            expect(s.index).toBe(i);
            expect(s.start).toBe(next);
            expect(s.end).toBeGreaterThanOrEqual(s.start);
            expect(s.end - s.start).toBe(i < slices.length - 1 ? MIB : n - s.start);
            expect(s.end - s.start).toBeLessThanOrEqual(MIB);
            next = s.end;
          });
          expect(next).toBe(n);
        },
      ),
    );
  });

  it('refuses sizes that are not whole, non-negative numbers', () => {
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => computeUnitsForBytes(bad)).toThrow(RangeError);
      expect(() => sliceRanges(bad)).toThrow(RangeError);
    }
  });
});

describe('render jobs', () => {
  it('groups frames from 1 in runs; the last run takes the rest', () => {
    expect(renderJobs(25, 10)).toEqual([
      { index: 0, firstFrame: 1, lastFrame: 10 },
      { index: 1, firstFrame: 11, lastFrame: 20 },
      { index: 2, firstFrame: 21, lastFrame: 25 },
    ]);
    expect(renderJobs(1, 10)).toEqual([{ index: 0, firstFrame: 1, lastFrame: 1 }]);
    expect(renderJobs(100)).toHaveLength(10);
  });

  it('covers every frame exactly once', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 600 }), (frames, per) => {
        const jobs = renderJobs(frames, per);
        expect(jobs.length).toBe(Math.ceil(frames / per));
        let next = 1;
        jobs.forEach((j, i) => {
          expect(j.index).toBe(i);
          expect(j.firstFrame).toBe(next);
          const size = j.lastFrame - j.firstFrame + 1;
          expect(size).toBe(i < jobs.length - 1 ? per : frames - (jobs.length - 1) * per);
          next = j.lastFrame + 1;
        });
        expect(next).toBe(frames + 1);
      }),
    );
  });

  it('refuses zero frames or a zero run', () => {
    expect(() => renderJobs(0, 10)).toThrow(RangeError);
    expect(() => renderJobs(10, 0)).toThrow(RangeError);
  });
});

describe("each type's own measure", () => {
  it('inference: a unit per started thousand tokens', () => {
    expect(inferenceUnits(1)).toBe(1);
    expect(inferenceUnits(1000)).toBe(1);
    expect(inferenceUnits(1001)).toBe(2);
    expect(inferenceUnits(131_072)).toBe(132);
    expect(() => inferenceUnits(0)).toThrow(RangeError);
  });

  it('training: a unit per epoch', () => {
    expect(trainingUnits(10)).toBe(10);
    expect(() => trainingUnits(0)).toThrow(RangeError);
  });

  it('synthetic: a unit per started 10⁹ multiply-adds, exact past 2^53', () => {
    expect(syntheticUnits(1, 1)).toBe(1);
    expect(syntheticUnits(1000, 1)).toBe(1);
    expect(syntheticUnits(1000, 2)).toBe(2);
    expect(syntheticUnits(1001, 1)).toBe(2);
    expect(syntheticUnits(1024, 100)).toBe(108); // 1024³ × 100 = 107 374 182 400
    // 8192³ × 100 000 = 54 975 581 388 800 000, past Number.MAX_SAFE_INTEGER.
    expect(syntheticUnits(8192, 100_000)).toBe(54_975_582);
    expect(() => syntheticUnits(0, 1)).toThrow(RangeError);
    expect(() => syntheticUnits(4, 0)).toThrow(RangeError);
  });
});

describe('planJobs', () => {
  it('transcode and gpuhash: one job whose slices are the MiB ranges', () => {
    for (const type of ['transcode', 'gpuhash'] as const) {
      const plan = planJobs(type, { input_bytes: 2 * MIB + 5 });
      expect(plan).toEqual([
        {
          index: 0,
          units: 3,
          slices: [
            { index: 0, units: 1, kind: 'bytes', start: 0, end: MIB },
            { index: 1, units: 1, kind: 'bytes', start: MIB, end: 2 * MIB },
            { index: 2, units: 1, kind: 'bytes', start: 2 * MIB, end: 2 * MIB + 5 },
          ],
        },
      ]);
    }
    expect(planJobs('gpuhash', { input_bytes: 0 })).toEqual([
      { index: 0, units: 1, slices: [{ index: 0, units: 1, kind: 'bytes', start: 0, end: 0 }] },
    ]);
  });

  it('rendering: jobs of framesPerJob frames, a slice and a unit per frame', () => {
    const plan = planJobs('rendering', { frames: 25 }, { framesPerJob: 10 });
    expect(plan.map((j) => j.units)).toEqual([10, 10, 5]);
    expect(plan[2]!.slices).toEqual(
      [21, 22, 23, 24, 25].map((frame, index) => ({ index, units: 1, kind: 'frame', frame })),
    );
    expect(totalUnits(plan)).toBe(25);
    expect(planJobs('rendering', { frames: 100 })).toHaveLength(10);
  });

  it('inference, training, synthetic: one job of one slice carrying all the units', () => {
    const whole = (units: number) => [{ index: 0, units, slices: [{ index: 0, units, kind: 'whole' }] }];
    expect(planJobs('inference', { max_tokens: 500 })).toEqual(whole(1));
    expect(planJobs('training', { epochs: 10 })).toEqual(whole(10));
    expect(planJobs('synthetic', { matrix_size: 1024, iterations: 100 })).toEqual(whole(108));
  });

  it('accepts a whole payload, reading only the fields it needs', () => {
    const payload = { model_id: 'gpt-3.5-turbo', prompt: 'Hello', max_tokens: 2500, temperature: 0.7 };
    expect(totalUnits(planJobs('inference', payload))).toBe(3);
  });

  it('job units are the sum of slice units, and byte plans price one unit per MiB', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 40 * MIB }),
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 1, max: 50 }),
        (bytes, frames, per) => {
          for (const plan of [
            planJobs('transcode', { input_bytes: bytes }),
            planJobs('rendering', { frames }, { framesPerJob: per }),
          ])
            for (const job of plan) expect(job.units).toBe(job.slices.reduce((s, x) => s + x.units, 0));
          expect(totalUnits(planJobs('transcode', { input_bytes: bytes }))).toBe(computeUnitsForBytes(bytes));
          expect(totalUnits(planJobs('rendering', { frames }, { framesPerJob: per }))).toBe(frames);
        },
      ),
    );
  });

  it('refuses missing or malformed counts and unknown types', () => {
    expect(() => planJobs('transcode', {} as WorkInfo['transcode'])).toThrow(/input_bytes/);
    expect(() => planJobs('rendering', { frames: 2.5 })).toThrow(/frames/);
    expect(() => planJobs('rendering', { frames: 10 }, { framesPerJob: 0 })).toThrow(/framesPerJob/);
    expect(() => planJobs('synthetic', { matrix_size: 4 } as WorkInfo['synthetic'])).toThrow(/iterations/);
    expect(() => planJobs('training', { epochs: '3' } as unknown as WorkInfo['training'])).toThrow(/epochs/);
    expect(() => planJobs('mining' as 'training', { epochs: 1 })).toThrow(/no work plan/);
  });
});
