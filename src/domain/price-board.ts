// The price board (spec "Price Board Persistence"): per lane, a sliding window of the latest
// price_board_window prices per unit, from which come the quantile bands (p25, median, p75), the
// consumer fee gauges (p50, p90) that drive the comfort guard, and a suggested bid scaled by the
// lane's backlog. It serialises to bytes for the node's state file; a file that does not read back
// exactly (truncated, flipped bits, another format) gives an empty board rather than wrong prices.

import { blake3 } from '@noble/hashes/blake3.js';
import { LANES, type Lane } from './scheduler-params.js';

/** Oldest first, at most the window's length per lane. */
export type PriceBoard = Readonly<Record<Lane, readonly bigint[]>>;

/** Each entry is stored as an unsigned 64-bit integer, as the spec says. */
export const U64_MAX = (1n << 64n) - 1n;

export function emptyBoard(): PriceBoard {
  return { consumer: [], industrial: [] };
}

/**
 * Adds a price, dropping the oldest past `window`. A price beyond u64 (above ~18.4 CPC per unit)
 * is recorded as u64's maximum: the board is a rough guide and its file format is fixed.
 */
export function recordPrice(board: PriceBoard, lane: Lane, price: bigint, window: number): PriceBoard {
  if (price < 0n) throw new RangeError('a price is never negative');
  const p = price > U64_MAX ? U64_MAX : price;
  const prices = [...board[lane], p];
  return { ...board, [lane]: prices.length > window ? prices.slice(prices.length - window) : prices };
}

/**
 * The q-quantile by nearest rank: the smallest recorded price with at least q of all prices at or
 * below it. Always a price that was really paid, with no interpolation, so it stays exact.
 */
export function quantile(prices: readonly bigint[], q: number): bigint | null {
  if (prices.length === 0) return null;
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile ${q}`);
  const sorted = [...prices].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1] as bigint;
}

export interface Bands {
  p25: bigint;
  median: bigint;
  p75: bigint;
}

/** price_band_p25/median/p75{lane}; null while the lane has no prices. */
export function bands(board: PriceBoard, lane: Lane): Bands | null {
  const prices = board[lane];
  if (prices.length === 0) return null;
  return {
    p25: quantile(prices, 0.25) as bigint,
    median: quantile(prices, 0.5) as bigint,
    p75: quantile(prices, 0.75) as bigint,
  };
}

/** consumer_fee_p50 and consumer_fee_p90. */
export function consumerFees(board: PriceBoard): { p50: bigint | null; p90: bigint | null } {
  return { p50: quantile(board.consumer, 0.5), p90: quantile(board.consumer, 0.9) };
}

/**
 * The median scaled by 1 + backlog/window, rounded down: a lane with a queue as long as the window
 * suggests twice the usual price. The caller leaves deferred industrial jobs out of `backlog`.
 */
export function suggestedBid(board: PriceBoard, lane: Lane, backlog: number, window: number): bigint | null {
  const median = quantile(board[lane], 0.5);
  if (median === null) return null;
  if (!Number.isSafeInteger(backlog) || backlog < 0) throw new RangeError(`backlog ${backlog}`);
  const w = BigInt(window);
  return (median * (w + BigInt(backlog))) / w;
}

// File layout, little-endian: "TMPB", version u8 (2), three zero bytes; per lane in LANES order a
// u32 count and count × u64 prices; then the first 8 bytes of BLAKE3 of everything before.
const MAGIC = [0x54, 0x4d, 0x50, 0x42];
const VERSION = 2;
const HEADER = 8;
const CHECK = 8;

export function serializeBoard(board: PriceBoard): Uint8Array {
  const size = HEADER + LANES.reduce((n, l) => n + 4 + 8 * board[l].length, 0) + CHECK;
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  bytes.set(MAGIC, 0);
  bytes[4] = VERSION;
  let at = HEADER;
  for (const lane of LANES) {
    view.setUint32(at, board[lane].length, true);
    at += 4;
    for (const p of board[lane]) {
      view.setBigUint64(at, p > U64_MAX ? U64_MAX : p < 0n ? 0n : p, true);
      at += 8;
    }
  }
  bytes.set(blake3(bytes.subarray(0, at)).subarray(0, CHECK), at);
  return bytes;
}

/** Reads a board back, keeping the newest `window` prices per lane; anything amiss: an empty board. */
export function deserializeBoard(bytes: Uint8Array, window: number): PriceBoard {
  if (bytes.length < HEADER + CHECK) return emptyBoard();
  const body = bytes.subarray(0, bytes.length - CHECK);
  const sum = blake3(body).subarray(0, CHECK);
  if (!sum.every((b, i) => b === bytes[body.length + i])) return emptyBoard();
  if (!MAGIC.every((b, i) => bytes[i] === b) || bytes[4] !== VERSION) return emptyBoard();
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const board: Record<Lane, bigint[]> = { consumer: [], industrial: [] };
  let at = HEADER;
  for (const lane of LANES) {
    if (at + 4 > body.length) return emptyBoard();
    const count = view.getUint32(at, true);
    at += 4;
    if (at + 8 * count > body.length) return emptyBoard();
    for (let i = 0; i < count; i++, at += 8) board[lane].push(view.getBigUint64(at, true));
    board[lane] = board[lane].slice(Math.max(0, count - window));
  }
  return at === body.length ? board : emptyBoard();
}
