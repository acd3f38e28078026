import { describe, expect, it } from 'vitest';
import { Batcher } from '../../src/market/batcher.js';

describe('batcher', () => {
  it('batches concurrent submissions and gives each its own outcome', async () => {
    const batches: number[][] = [];
    const gc = new Batcher<number, number>(async (items) => {
      batches.push(items);
      return items.map((i) =>
        i % 3 === 0 ? { ok: false, error: new Error(`bad ${i}`) } : { ok: true, value: i * 10 },
      );
    }, 4);
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => gc.submit(i + 1)));
    expect(batches.map((b) => b.length)).toEqual([4, 4, 2]);
    expect(results[0]).toEqual({ status: 'fulfilled', value: 10 });
    expect(results[2]).toMatchObject({ status: 'rejected', reason: new Error('bad 3') });
  });

  it('fails the whole batch when the transaction fails, and keeps serving after', async () => {
    let fail = true;
    const gc = new Batcher<number, number>(async (items) => {
      if (fail) throw new Error('db down');
      return items.map((i) => ({ ok: true, value: i }));
    });
    await expect(Promise.all([gc.submit(1), gc.submit(2)])).rejects.toThrow('db down');
    fail = false;
    await expect(gc.submit(3)).resolves.toBe(3);
    await gc.flushed();
  });
});
