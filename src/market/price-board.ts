// The node's price board (spec "Price Board Persistence"): the pure board of domain/price-board.ts
// held in memory, fed with the price of each leased job, and kept in a file under the data
// directory. The file is only a warm start for the quantile bands, so a missing or unreadable one
// costs nothing but an empty board; it is replaced atomically (temp file, then rename) so a crash
// mid-save leaves the previous board, never half of one.

import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import type { Logger } from 'pino';
import {
  bands,
  consumerFees,
  deserializeBoard,
  emptyBoard,
  recordPrice,
  serializeBoard,
  type Bands,
  type PriceBoard,
} from '../domain/price-board.js';
import { LANES, type Lane } from '../domain/scheduler-params.js';
import type { Config } from './config.js';

export type PriceBoardConfig = Pick<
  Config,
  'data_dir' | 'price_board_path' | 'price_board_window' | 'price_board_save_interval'
>;

export function priceBoardFile(config: PriceBoardConfig): string {
  const p = config.price_board_path;
  return isAbsolute(p) ? p : join(config.data_dir, p);
}

export class PriceBoardService {
  readonly file: string;
  private board: PriceBoard = emptyBoard();
  /** Prices recorded since the last save or load: an unchanged board is not rewritten. */
  private dirty = false;
  private saving: Promise<void> = Promise.resolve();

  constructor(
    private readonly config: PriceBoardConfig,
    private readonly logger: Logger,
  ) {
    this.file = priceBoardFile(config);
  }

  get window(): number {
    return this.config.price_board_window;
  }

  record(lane: Lane, pricePerUnit: bigint): void {
    this.board = recordPrice(this.board, lane, pricePerUnit, this.window);
    this.dirty = true;
  }

  bands(lane: Lane): Bands | null {
    return bands(this.board, lane);
  }

  consumerFees(): { p50: bigint | null; p90: bigint | null } {
    return consumerFees(this.board);
  }

  /** The prices per lane, oldest first. */
  snapshot(): PriceBoard {
    return this.board;
  }

  /** Reads the file; a missing one is a fresh board, an unreadable one is a warning and a fresh board. */
  async load(): Promise<void> {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(this.file);
    } catch (err) {
      this.board = emptyBoard();
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        this.logger.info({ file: this.file }, 'no price board file: starting empty');
      else this.logger.warn({ file: this.file, err }, 'price board unreadable: starting empty');
      return;
    }
    const board = deserializeBoard(bytes, this.window);
    // An empty board that was not saved as one means the bytes did not check out.
    if (LANES.every((l) => board[l].length === 0) && !sameBytes(bytes, serializeBoard(emptyBoard())))
      this.logger.warn(
        { file: this.file, bytes: bytes.length },
        'price board file is corrupt or of another format: starting empty',
      );
    else this.logger.info({ file: this.file, ...this.counts(board) }, 'loaded price board');
    this.board = board;
    this.dirty = false;
  }

  /** Writes the board if it changed; saves never overlap, a later one waits for the earlier. */
  save(): Promise<void> {
    const next = this.saving.then(() => this.write());
    this.saving = next.catch(() => {});
    return next;
  }

  private async write(): Promise<void> {
    if (!this.dirty) return;
    const board = this.board;
    this.dirty = false;
    const tmp = `${this.file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await mkdir(dirname(this.file), { recursive: true });
      await writeFile(tmp, serializeBoard(board), { flush: true });
      await rename(tmp, this.file);
    } catch (err) {
      this.dirty = true; // try again next time
      await rm(tmp, { force: true });
      throw err;
    }
    this.logger.info({ file: this.file, ...this.counts(board) }, 'saved price board');
  }

  private counts(board: PriceBoard): Record<Lane, number> {
    return { consumer: board.consumer.length, industrial: board.industrial.length };
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
