import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bands,
  consumerFees,
  deserializeBoard,
  emptyBoard,
  quantile,
  recordPrice,
  serializeBoard,
  suggestedBid,
  U64_MAX,
  type PriceBoard,
} from '../../src/domain/price-board.js';

function boardOf(consumer: bigint[], industrial: bigint[] = [], window = 100): PriceBoard {
  let b = emptyBoard();
  for (const p of consumer) b = recordPrice(b, 'consumer', p, window);
  for (const p of industrial) b = recordPrice(b, 'industrial', p, window);
  return b;
}

const oneTo = (n: number) => Array.from({ length: n }, (_, i) => BigInt(i + 1));

describe('price board', () => {
  it('keeps the latest window of prices per lane', () => {
    const b = boardOf([1n, 2n, 3n, 4n, 5n], [9n], 3);
    expect(b).toEqual({ consumer: [3n, 4n, 5n], industrial: [9n] });
    expect(() => recordPrice(b, 'consumer', -1n, 3)).toThrow(RangeError);
    expect(recordPrice(emptyBoard(), 'consumer', U64_MAX + 5n, 3).consumer).toEqual([U64_MAX]);
  });

  it('takes quantiles by nearest rank', () => {
    const prices = oneTo(100);
    expect(quantile(prices, 0.25)).toBe(25n);
    expect(quantile(prices, 0.5)).toBe(50n);
    expect(quantile(prices, 0.75)).toBe(75n);
    expect(quantile(prices, 0.9)).toBe(90n);
    expect(quantile(prices, 0)).toBe(1n);
    expect(quantile(prices, 1)).toBe(100n);
    expect(quantile([40n, 10n, 30n, 20n], 0.5)).toBe(20n);
    expect(quantile([7n], 0.9)).toBe(7n);
    expect(quantile([], 0.5)).toBeNull();
    expect(() => quantile([1n], 1.5)).toThrow(RangeError);
  });

  it('reports bands and consumer fees', () => {
    const b = boardOf(oneTo(100).reverse(), [5n]);
    expect(bands(b, 'consumer')).toEqual({ p25: 25n, median: 50n, p75: 75n });
    expect(bands(b, 'industrial')).toEqual({ p25: 5n, median: 5n, p75: 5n });
    expect(bands(emptyBoard(), 'consumer')).toBeNull();
    expect(consumerFees(b)).toEqual({ p50: 50n, p90: 90n });
    expect(consumerFees(emptyBoard())).toEqual({ p50: null, p90: null });
  });

  it('scales the suggested bid by 1 + backlog/window', () => {
    const b = boardOf([100n]);
    expect(suggestedBid(b, 'consumer', 0, 100)).toBe(100n);
    expect(suggestedBid(b, 'consumer', 50, 100)).toBe(150n);
    expect(suggestedBid(b, 'consumer', 100, 100)).toBe(200n);
    expect(suggestedBid(boardOf([3n]), 'consumer', 1, 2)).toBe(4n); // 4.5, rounded down
    expect(suggestedBid(b, 'industrial', 10, 100)).toBeNull();
    expect(() => suggestedBid(b, 'consumer', -1, 100)).toThrow(RangeError);
  });
});

describe('price board persistence', () => {
  it('writes 8 bytes per price plus a small header and checksum, and reads it back', () => {
    const b = boardOf(oneTo(100), [U64_MAX, 0n]);
    const bytes = serializeBoard(b);
    expect(bytes.length).toBe(8 + 4 + 8 * 100 + 4 + 8 * 2 + 8);
    expect([...bytes.subarray(0, 5)]).toEqual([0x54, 0x4d, 0x50, 0x42, 2]);
    expect(deserializeBoard(bytes, 100)).toEqual(b);
    expect(serializeBoard(emptyBoard()).length).toBe(24);
  });

  it('keeps the newest prices when the window shrank', () => {
    const bytes = serializeBoard(boardOf(oneTo(10)));
    expect(deserializeBoard(bytes, 3)).toEqual({ consumer: [8n, 9n, 10n], industrial: [] });
  });

  it('starts empty from a missing, truncated, altered or foreign file', () => {
    const bytes = serializeBoard(boardOf(oneTo(5), [7n]));
    expect(deserializeBoard(new Uint8Array(), 100)).toEqual(emptyBoard());
    expect(deserializeBoard(bytes.subarray(0, bytes.length - 1), 100)).toEqual(emptyBoard());
    const padded = new Uint8Array(bytes.length + 1);
    padded.set(bytes);
    expect(deserializeBoard(padded, 100)).toEqual(emptyBoard());
    expect(deserializeBoard(new TextEncoder().encode('{"prices":[1,2,3]} not a board'), 100)).toEqual(
      emptyBoard(),
    );
  });

  const price = fc.bigInt({ min: 0n, max: U64_MAX });
  const board = fc.record({
    consumer: fc.array(price, { maxLength: 50 }),
    industrial: fc.array(price, { maxLength: 50 }),
  });

  it('round-trips any board, and any single flipped bit empties it', () => {
    fc.assert(
      fc.property(board, fc.nat(), fc.integer({ min: 0, max: 7 }), (b, at, bit) => {
        const bytes = serializeBoard(b);
        expect(deserializeBoard(bytes, 50)).toEqual(b);
        const bad = bytes.slice();
        bad[at % bad.length]! ^= 1 << bit;
        expect(deserializeBoard(bad, 50)).toEqual(emptyBoard());
      }),
    );
  });

  it('random bytes never throw and give an empty board', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(deserializeBoard(bytes, 100)).toEqual(emptyBoard());
      }),
    );
  });
});
