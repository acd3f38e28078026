// The market's link to the CPC chain: which chain (config `chain`: the embedded dev chain, a CPC
// node over HTTP, or none), the key it signs with, the outbox writer and the courier, and the
// loops that drive them: payouts batched every payout_interval_ms, the outbox delivered every
// courier_interval_ms, and (dev chain) a block every chain_block_interval_ms.

import type { Logger } from 'pino';
import { DevChain } from '../chain/dev-chain.js';
import { HttpChainClient } from '../chain/http-client.js';
import type { ChainPort } from '../chain/port.js';
import type { Clock } from '../domain/clock.js';
import type { Db } from '../store/db.js';
import { ensureChainKey } from './chain-key.js';
import type { Config } from './config.js';
import { Courier } from './courier.js';
import type { MarketEventBus } from './events.js';
import { OutboxWriter } from './outbox.js';

export interface ChainLinkOptions {
  config: Config;
  db: Db;
  clock: Clock;
  events: MarketEventBus;
  logger: Logger;
  /** The chain private key (hex); otherwise read from (or created in) the data directory. */
  chainKey?: string | undefined;
  /** A chain to use instead of the configured one (tests: a dev chain with failure injection). */
  chain?: ChainPort | undefined;
  /**
   * Whether this node runs the courier now. Nodes sharing a database share one outbox and one
   * sender: one of them (src/market/cluster.ts) delivers it, the others skip their rounds.
   */
  leads?: (() => boolean) | undefined;
}

/** Payouts claimed per payout transaction: 100,000 rows marked and summed in the database. */
const PAYOUT_PAGE = 100_000;

/** What a timed round that found nothing to do saw: the outbox's and the dev chain's marks. */
interface QuietMark {
  queued: number;
  block: number | undefined;
  atMs: number;
}

export class ChainLink {
  private timers: NodeJS.Timeout[] = [];
  private round: Promise<void> | undefined;
  private lastPayoutMs: number;
  private quiet: QuietMark | undefined;

  private constructor(
    readonly port: ChainPort,
    /** Set when the port is the embedded dev chain. */
    readonly devChain: DevChain | undefined,
    readonly outbox: OutboxWriter,
    readonly courier: Courier,
    private readonly opts: ChainLinkOptions,
  ) {
    this.lastPayoutMs = opts.clock.nowMs();
  }

  /** The link the configuration asks for; undefined with `chain = "off"`. */
  static async open(opts: ChainLinkOptions): Promise<ChainLink | undefined> {
    const { config, db, clock, logger } = opts;
    if (config.chain === 'off' && !opts.chain) return undefined;
    const key = opts.chainKey ?? ensureChainKey(config.data_dir, clock);
    const outbox = new OutboxWriter(key, clock);
    let port = opts.chain;
    if (!port && config.chain === 'dev')
      port = await DevChain.open({
        db,
        clock,
        blockIntervalMs: config.chain_block_interval_ms,
        txTtlMs: config.chain_tx_ttl_ms,
        onError: (err) => logger.error({ err }, 'dev chain block production failed'),
      });
    port ??= new HttpChainClient({ baseUrl: config.chain });
    const courier = new Courier({
      db,
      chain: port,
      clock,
      events: opts.events,
      logger,
      sender: outbox.sender,
      seal: (limit) => outbox.seal(db, limit),
      syncNonce: (account) => outbox.syncNonce(db, account),
      fillGap: (nonce) => outbox.fillGap(db, nonce),
      confirmations: config.chain_confirmations,
      txTtlMs: config.chain_tx_ttl_ms,
      batch: config.courier_batch,
      backoffBaseMs: config.courier_backoff_base_ms,
      backoffMaxMs: config.courier_backoff_max_ms,
      random: Math.random,
    });
    return new ChainLink(port, port instanceof DevChain ? port : undefined, outbox, courier, opts);
  }

  /** Human-readable: "dev", "off" or the node URL. */
  get name(): string {
    return this.devChain ? 'dev' : this.opts.config.chain;
  }

  start(): void {
    this.devChain?.start();
    const timer = setInterval(() => {
      if (!this.quietNow()) void this.tick();
    }, this.opts.config.courier_interval_ms);
    timer.unref();
    this.timers.push(timer);
  }

  /**
   * On PGlite with the dev chain one process holds both the outbox and the chain, so after a
   * round that found nothing to do, nothing new can be due until this process queues an outbox
   * entry, the dev chain seals a block or payouts fall due: the timer skips its rounds until then,
   * or at most until the block interval has passed (retries whose time came). An idle node then
   * reads the outbox and the chain every few seconds instead of a dozen statements a second. A
   * remote chain's blocks come when they come: every round runs.
   */
  private quietNow(): boolean {
    const q = this.quiet;
    if (!q || !this.devChain || this.opts.db.kind !== 'pglite') return false;
    const { config, clock } = this.opts;
    const now = clock.nowMs();
    return (
      q.queued === this.outbox.queued &&
      q.block === this.devChain.lastBlockAt &&
      now - q.atMs < Math.max(config.courier_interval_ms, config.chain_block_interval_ms) &&
      now - this.lastPayoutMs < config.payout_interval_ms
    );
  }

  /** One round of the loop: payouts when their interval has passed, then what is due. */
  tick(): Promise<void> {
    this.round ??= this.runRound().finally(() => (this.round = undefined));
    return this.round;
  }

  private async runRound(): Promise<void> {
    if (this.opts.leads && !this.opts.leads()) return;
    try {
      const now = this.opts.clock.nowMs();
      const mark: QuietMark = { queued: this.outbox.queued, block: this.devChain?.lastBlockAt, atMs: now };
      let transfers = 0;
      if (now - this.lastPayoutMs >= this.opts.config.payout_interval_ms) {
        this.lastPayoutMs = now;
        transfers = await this.flushPayouts();
      }
      const report = await this.courier.flush();
      const busy =
        transfers > 0 || report.stopped || Object.values(report).some((v) => typeof v === 'number' && v > 0);
      this.quiet = busy ? undefined : mark;
    } catch (err) {
      this.quiet = undefined;
      this.opts.logger.error({ err }, 'courier round failed');
    }
  }

  /**
   * Batches every waiting payout into TRANSFERs, up to PAYOUT_PAGE payouts per transaction (the
   * database sums them per provider, so a page costs one row per provider in memory); returns
   * how many TRANSFERs. A provider gets one TRANSFER per page it has payouts in.
   */
  async flushPayouts(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.outbox.flushPayouts(this.opts.db, PAYOUT_PAGE);
      total += n.transfers;
      if (n.claimed === 0) return total;
    }
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.round;
    await this.courier.idle();
    await this.port.close();
  }
}
