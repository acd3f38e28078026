// The price board on a node (spec "Price Board Persistence"): kept in memory, saved atomically to
// its file on close and every price_board_save_interval, loaded again on start; a missing or
// corrupt file gives an empty board; the window drops old prices; /metrics shows the bands.

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/market/config.js';
import { PriceBoardService } from '../../src/market/price-board.js';
import { startTestMarket } from '../helpers/market.js';

/** Opening a node (database and migrations) twice in one test is slow on a busy machine. */
const RESTART_TIMEOUT = 120_000;

const dirs: string[] = [];
function tmp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tm-price-board-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A logger that keeps its lines, to check what the board says. */
function capture() {
  const lines: { level: number; msg: string; [k: string]: unknown }[] = [];
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) },
  );
  return { logger, lines };
}

function service(dataDir: string, window = 100) {
  const log = capture();
  const config = loadConfig({ flags: { data_dir: dataDir, price_board_window: window } });
  return { board: new PriceBoardService(config, log.logger), lines: log.lines };
}

describe('price board service', () => {
  it('starts empty without a file and saves atomically to state/price_board.v2.bin', async () => {
    const dir = tmp();
    const { board, lines } = service(dir);
    await board.load();
    expect(board.bands('consumer')).toBeNull();
    expect(board.consumerFees()).toEqual({ p50: null, p90: null });
    expect(board.file).toBe(join(dir, 'state', 'price_board.v2.bin'));

    await board.save(); // nothing recorded: nothing written
    expect(existsSync(board.file)).toBe(false);
    for (const p of [100n, 200n, 300n, 400n]) board.record('consumer', p);
    board.record('industrial', 7n);
    await Promise.all([board.save(), board.save()]);
    expect(existsSync(board.file)).toBe(true);
    // 8 header + (4 + 4×8) + (4 + 1×8) + 8 checksum: each price is a u64; no temp file is left.
    expect(readFileSync(board.file)).toHaveLength(8 + 36 + 12 + 8);
    expect(readdirSync(join(dir, 'state'))).toEqual(['price_board.v2.bin']);
    expect(lines.filter((l) => l.msg === 'saved price board')).toHaveLength(1);
    expect(lines.find((l) => l.msg === 'saved price board')).toMatchObject({ consumer: 4, industrial: 1 });

    const again = service(dir);
    await again.board.load();
    expect(again.board.bands('consumer')).toEqual({ p25: 100n, median: 200n, p75: 300n });
    expect(again.board.bands('industrial')).toEqual({ p25: 7n, median: 7n, p75: 7n });
    expect(again.board.consumerFees()).toEqual({ p50: 200n, p90: 400n });
    expect(again.lines.find((l) => l.msg === 'loaded price board')).toMatchObject({
      consumer: 4,
      industrial: 1,
    });
  });

  it('keeps only the newest price_board_window prices, also when the window shrinks', async () => {
    const dir = tmp();
    const { board } = service(dir, 3);
    for (const p of [1n, 2n, 3n, 4n, 5n]) board.record('consumer', p);
    expect(board.snapshot().consumer).toEqual([3n, 4n, 5n]);
    expect(board.bands('consumer')).toEqual({ p25: 3n, median: 4n, p75: 5n });
    await board.save();
    const smaller = service(dir, 2);
    await smaller.board.load();
    expect(smaller.board.snapshot().consumer).toEqual([4n, 5n]);
  });

  it('starts empty, with a warning, from a corrupt file', async () => {
    const dir = tmp();
    const { board } = service(dir);
    board.record('consumer', 500n);
    await board.save();
    const bytes = readFileSync(board.file);
    bytes[bytes.length - 12] = (bytes[bytes.length - 12] ?? 0) ^ 0xff; // one flipped price byte
    writeFileSync(board.file, bytes);

    const reread = service(dir);
    await reread.board.load();
    expect(reread.board.bands('consumer')).toBeNull();
    const warning = reread.lines.find((l) => l.level === 40);
    expect(warning?.msg).toMatch(/price board file is corrupt/);
    expect(reread.lines.some((l) => l.msg === 'loaded price board')).toBe(false);

    writeFileSync(board.file, 'not a board at all');
    const garbage = service(dir);
    await garbage.board.load();
    expect(garbage.board.snapshot()).toEqual({ consumer: [], industrial: [] });
    expect(garbage.lines.some((l) => l.level === 40)).toBe(true);
  });
});

describe('price board on a node', () => {
  it(
    'survives a restart: saved on close, loaded on open',
    async () => {
      const dir = tmp();
      const first = await startTestMarket({ config: { data_dir: dir }, background: false });
      for (const p of [10n, 20n, 30n, 40n]) first.market.priceBoard.record('consumer', p);
      first.market.priceBoard.record('industrial', 1000n);
      await first.close();
      expect(existsSync(join(dir, 'state', 'price_board.v2.bin'))).toBe(true);

      const second = await startTestMarket({ config: { data_dir: dir }, background: false });
      try {
        expect(second.market.priceBoard.bands('consumer')).toEqual({ p25: 10n, median: 20n, p75: 30n });
        expect(second.market.priceBoard.consumerFees()).toEqual({ p50: 20n, p90: 40n });
        expect(second.market.priceBoard.bands('industrial')?.median).toBe(1000n);
      } finally {
        await second.close();
      }
    },
    RESTART_TIMEOUT,
  );

  it(
    'saves every price_board_save_interval seconds, to a path of its choosing',
    async () => {
      const dir = tmp();
      const file = join(dir, 'elsewhere', 'board.bin');
      const tm = await startTestMarket({ config: { price_board_path: file, price_board_save_interval: 1 } });
      try {
        tm.market.priceBoard.record('consumer', 5n);
        await expect.poll(() => existsSync(file), { timeout: 5000 }).toBe(true);
      } finally {
        await tm.close();
      }
    },
    RESTART_TIMEOUT,
  );

  it(
    'a corrupt file gives an empty board on start',
    async () => {
      const dir = tmp();
      const file = join(dir, 'state', 'price_board.v2.bin');
      const first = await startTestMarket({ config: { data_dir: dir }, background: false });
      first.market.priceBoard.record('consumer', 10n);
      await first.close();
      writeFileSync(file, readFileSync(file).subarray(0, 20)); // truncated
      const second = await startTestMarket({ config: { data_dir: dir }, background: false });
      try {
        expect(second.market.priceBoard.snapshot()).toEqual({ consumer: [], industrial: [] });
      } finally {
        await second.close();
      }
    },
    RESTART_TIMEOUT,
  );

  it(
    'shows the bands and consumer fees on /metrics',
    async () => {
      const tm = await startTestMarket({ config: { price_board_window: 4 }, background: false });
      try {
        const scrape = async () => (await fetch(`${tm.url}/metrics`)).text();
        const before = await scrape();
        expect(before).not.toMatch(/^price_band_median\{/m);
        expect(before).toMatch(/^consumer_fee_p90 nan$/im); // prom-client spells it Nan
        // The first price falls out of the window of 4.
        for (const p of [999n, 100n, 200n, 300n, 400n]) tm.market.priceBoard.record('consumer', p);
        tm.market.priceBoard.record('industrial', 50n);
        const text = await scrape();
        expect(text).toMatch(/^price_band_p25\{lane="consumer"\} 100$/m);
        expect(text).toMatch(/^price_band_median\{lane="consumer"\} 200$/m);
        expect(text).toMatch(/^price_band_p75\{lane="consumer"\} 300$/m);
        expect(text).toMatch(/^price_band_median\{lane="industrial"\} 50$/m);
        expect(text).toMatch(/^consumer_fee_p50 200$/m);
        expect(text).toMatch(/^consumer_fee_p90 400$/m);
      } finally {
        await tm.close();
      }
    },
    RESTART_TIMEOUT,
  );
});
