// One courier test rig for every courier test (courier, courier-inclusion, the real-node double,
// reorg, nonce gaps, bids): a dev chain that behaves like the CPC node, the market's outbox writer
// and a courier wired as src/market/chain-link.ts wires them, over any port in front of the chain
// (the chain itself, a wrapper, or the node double over HTTP).

import pino from 'pino';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { DevChain, type DevChainOptions } from '../../src/chain/dev-chain.js';
import type { ChainPort } from '../../src/chain/port.js';
import { ManualClock } from '../../src/domain/clock.js';
import { Courier, type CourierOptions } from '../../src/market/courier.js';
import { MarketEventBus } from '../../src/market/events.js';
import { OutboxWriter } from '../../src/market/outbox.js';
import type { Db } from '../../src/store/db.js';
import type { NewOutboxRow } from '../../src/store/outbox.js';
import { addressOf } from '../chain/fixtures.js';
import { testDb } from './db.js';

/**
 * A test file's database for courier tests: opened once, emptied (resetChainTables) before each
 * test, with a fresh ManualClock at `t0`. Read `db` and `clock` inside tests and hooks.
 */
export function useCourierDb(t0: number): { readonly db: Db; readonly clock: ManualClock } {
  const ctx = {} as { db: Db; clock: ManualClock };
  beforeAll(async () => {
    ctx.db = await testDb();
  });
  afterAll(async () => {
    await ctx.db?.close();
  });
  beforeEach(async () => {
    await resetChainTables(ctx.db);
    ctx.clock = new ManualClock(t0);
  });
  return ctx;
}

/** Empties the outbox and the dev chain between tests. */
export async function resetChainTables(db: Db): Promise<void> {
  await db.query(
    'TRUNCATE outbox, chain_nonces, chain_cursor, chain_txs, chain_blocks, chain_seen_blocks, payouts, bids RESTART IDENTITY',
  );
}

export interface CourierRigOptions {
  db: Db;
  clock: ManualClock;
  /** The market's chain key (hex). */
  key: string;
  /** Dev chain options over the defaults (db and clock are the rig's). */
  chain?: Partial<DevChainOptions>;
  /** A port in front of the dev chain: the courier sends through it. */
  port?: (dev: DevChain) => ChainPort | Promise<ChainPort>;
  /** Courier options over the defaults (every courier the rig makes). */
  courier?: Partial<CourierOptions>;
}

export interface CourierRig {
  chain: DevChain;
  outbox: OutboxWriter;
  port: ChainPort;
  /** The first courier. */
  courier: Courier;
  /** A new courier (a restarted process, knowing only the database), with these options on top. */
  newCourier(over?: Partial<CourierOptions>): Courier;
}

export async function courierRig(opts: CourierRigOptions): Promise<CourierRig> {
  const { db, clock } = opts;
  const chain = await DevChain.open({ db, clock, ...opts.chain });
  const outbox = new OutboxWriter(opts.key, clock);
  const port = opts.port ? await opts.port(chain) : chain;
  const newCourier = (over: Partial<CourierOptions> = {}) =>
    new Courier({
      db,
      chain: port,
      clock,
      events: new MarketEventBus(),
      logger: pino({ level: process.env.COURIER_LOG ?? 'silent' }),
      sender: outbox.sender,
      seal: (limit) => outbox.seal(db, limit),
      syncNonce: (account) => outbox.syncNonce(db, account),
      fillGap: (nonce) => outbox.fillGap(db, nonce),
      batch: 100,
      backoffBaseMs: 1000,
      backoffMaxMs: 8000,
      confirmations: 0,
      txTtlMs: 3_600_000,
      ...opts.courier,
      ...over,
    });
  return { chain, outbox, port, courier: newCourier(), newCourier };
}

/** A payout TRANSFER draft to a test address (0x500 + n), amount 1000 + n. */
export function transferRow(n: number): NewOutboxRow {
  return {
    kind: 'TRANSFER',
    dedup_key: `payout:t:${n}`,
    draft: { type: 'transfer', to: addressOf(0x500 + n), amount: String(1000 + n) },
  };
}

/** The outbox in id order, as the courier tests read it. */
export function outboxRows(db: Db) {
  return db.query<{ id: number; status: string; nonce: number; tx_hash: string; height: number | null }>(
    'SELECT id::int AS id, status, nonce::int AS nonce, tx_hash, height::int AS height FROM outbox ORDER BY id',
  );
}
