// The market node's services wired together over one database, with the background loops
// (deadline sweep, ledger self-check) that keep stored state honest.
//
// The deadline sweep reads only when a deadline can have passed (issue #15): this node knows the
// earliest open deadline from its last read and lowers it for each task it creates. Where other
// nodes may share the database it also reads every sweep_fallback_interval_ms, for the tasks of
// a node that stopped (a live node sweeps its own tasks on time); on PGlite it is the whole market.

import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { operatorKeyPath } from './paths.js';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../domain/clock.js';
import { LANES, type Lane, type SchedulerParams } from '../domain/scheduler-params.js';
import { suggestedBid, type Bands } from '../domain/price-board.js';
import type { Db } from '../store/db.js';
import { withBlobFiles, type BlobDb } from '../store/blobs.js';
import { openDatabase } from '../store/open.js';
import { AccountService, newApiKey } from './accounts.js';
import { paymentSplit, peerList, type Config } from './config.js';
import { MarketEventBus } from './events.js';
import { Cluster } from './cluster.js';
import { Dispatcher } from './dispatcher.js';
import { SchedulerParamsService } from './params.js';
import { AdmissionService } from './admission.js';
import { makeSplit } from '../domain/settlement.js';
import { SettlementService } from './settlement.js';
import { verifyLedger } from './ledger.js';
import { TaskService } from './tasks.js';
import { PriceBoardService } from './price-board.js';
import { ReputationGossip } from './reputation-gossip.js';
import type { ChainPort } from '../chain/port.js';
import { ChainLink } from './chain-link.js';
import { blobFilesFor, OrphanSweep, tidyBlobs } from './blobs.js';
import { TaskFollowers } from './task-events.js';
import { webhookTargetProblem } from './webhook-guard.js';
import { WebhookService } from './webhooks.js';
import { NextDue } from './next-due.js';
import { nextOpenDeadline } from '../store/tasks.js';

export interface MarketOptions {
  config: Config;
  logger: Logger;
  clock?: Clock;
  /** An already-open database (tests); otherwise opened from the config. */
  db?: Db;
  /** The operator key; otherwise read from (or created in) the data directory. */
  operatorKey?: string;
  /** Scheduler parameters to use while none are stored (tests). */
  params?: Partial<SchedulerParams>;
  /** The chain signing key (hex); otherwise read from (or created in) the data directory. */
  chainKey?: string;
  /** A chain port to use instead of the configured one (tests). */
  chain?: ChainPort;
}

export class Market {
  readonly events = new MarketEventBus();
  readonly tasks: TaskService;
  readonly accounts: AccountService;
  readonly dispatcher: Dispatcher;
  readonly params: SchedulerParamsService;
  readonly settlement: SettlementService;
  readonly admission: AdmissionService;
  readonly priceBoard: PriceBoardService;
  readonly gossip: ReputationGossip;
  readonly webhooks: WebhookService;
  /** Live followers of tasks (GET /tasks/{id}/events). */
  readonly followers: TaskFollowers;
  /** This node among the nodes sharing the database. */
  readonly cluster: Cluster;
  /** The chain, outbox and courier; undefined with `chain = "off"`. */
  chainLink: ChainLink | undefined;
  /** Files in the blob directory that no row names, removed a folder at a time. */
  readonly orphanBlobs = new OrphanSweep(this);
  private timers: NodeJS.Timeout[] = [];
  private sweeping = false;
  /** The earliest deadline of an open task, and when the sweep last read it. */
  private readonly deadlines = new NextDue();
  private deadlinesReadAtMs = Number.NEGATIVE_INFINITY;

  private constructor(
    /** The database, with this node's blob directory for blob bytes. */
    readonly db: BlobDb,
    readonly config: Config,
    readonly logger: Logger,
    readonly clock: Clock,
    operatorKey: string,
    baseParams: Partial<SchedulerParams> = {},
  ) {
    this.params = new SchedulerParamsService(db, baseParams);
    this.cluster = new Cluster(
      db,
      clock,
      this.params,
      () => this.admission,
      logger.child({ component: 'cluster' }),
    );
    this.settlement = new SettlementService(
      db,
      clock,
      this.events,
      logger.child({ component: 'settlement' }),
      makeSplit(paymentSplit(config)),
    );
    const params = () => this.params.get();
    this.admission = new AdmissionService(
      clock,
      this.events,
      params,
      () => this.consumerFeeP90(),
      // The whole market's capacity: this node's workers now, the other nodes' as last read.
      () => this.dispatcher.offeredUnits() + this.cluster.otherUnits,
    );
    this.tasks = new TaskService(db, clock, this.events, {
      params,
      maxBatch: config.group_commit_max_batch,
      framesPerJob: config.frames_per_job,
      admit: (buyer, type, units) => this.admission.admitTask(buyer, type, units),
      ...(config.webhook_allow_private ? {} : { webhookTarget: (url: string) => webhookTargetProblem(url) }),
    });
    this.accounts = new AccountService(db, clock, this.events, operatorKey);
    this.dispatcher = new Dispatcher(
      db,
      clock,
      this.events,
      config,
      logger.child({ component: 'dispatcher' }),
      params,
      this.settlement,
      this.admission,
      this.cluster.nodeId,
    );
    this.priceBoard = new PriceBoardService(config, logger.child({ component: 'price-board' }));
    // Every lease is a price paid: the board's bands and the comfort guard's fees come from them.
    this.events.on('job.matched', (e) => this.priceBoard.record(e.lane, e.pricePerUnit));
    this.gossip = new ReputationGossip(
      db,
      clock,
      this.events,
      params,
      config,
      logger.child({ component: 'reputation-gossip' }),
    );
    this.webhooks = new WebhookService(
      db,
      clock,
      this.events,
      this.tasks,
      logger.child({ component: 'webhooks' }),
      {
        allowPrivate: config.webhook_allow_private,
        ...(db.kind === 'pglite' ? {} : { fallbackMs: config.sweep_fallback_interval_ms }),
      },
    );
    this.events.on('task.created', ({ deadlineMs }) => {
      if (deadlineMs !== null) this.deadlines.lower(deadlineMs);
    });
    this.followers = new TaskFollowers(db, this.events, this.tasks, (taskId, type) =>
      this.dispatcher.taskWaitingReason(taskId, type),
    );
  }

  /**
   * compute_market.price_board: each lane's bands and the bid the backlog suggests (spec "Price
   * Board": the median × (1 + backlog/window)); deferred industrial work is left out of the
   * backlog, so while tight the industrial lane's backlog is 0.
   */
  priceBoardView(): Record<Lane, { bands: Bands | null; backlog: number; suggested_bid: bigint | null }> {
    const queued = this.dispatcher.queuedInMemory();
    const view = {} as Record<Lane, { bands: Bands | null; backlog: number; suggested_bid: bigint | null }>;
    for (const lane of LANES) {
      const backlog = lane === 'industrial' && this.admission.mode === 'tight' ? 0 : queued[lane];
      view[lane] = {
        bands: this.priceBoard.bands(lane),
        backlog,
        suggested_bid: suggestedBid(this.priceBoard.snapshot(), lane, backlog, this.priceBoard.window),
      };
    }
    return view;
  }

  /** consumer_fee_p90: the consumer lane's p90 price per unit, from the price board. */
  private consumerFeeP90(): bigint | null {
    return this.priceBoard.consumerFees().p90;
  }

  static async open(options: MarketOptions): Promise<Market> {
    const { config } = options;
    const operatorKey = options.operatorKey ?? ensureOperatorKey(config.data_dir);
    const opened =
      options.db ??
      (await openDatabase({
        databaseUrl: config.database_url || undefined,
        dataDir: config.data_dir,
        schema: config.database_schema || undefined,
        poolSize: config.db_pool_size,
        pgliteWasmOptimizer: config.pglite_wasm_optimizer,
      }));
    const db = withBlobFiles(opened, blobFilesFor(config));
    const market = new Market(
      db,
      config,
      options.logger,
      options.clock ?? systemClock,
      operatorKey,
      options.params,
    );
    await tidyBlobs(market);
    await market.params.load();
    await market.cluster.refresh();
    if (db.kind === 'pglite') await market.cluster.standAlone();
    await market.settlement.load({
      checkReceipts: config.receipt_check_on_start,
      checkMax: config.receipt_check_max,
    });
    const queued = await market.dispatcher.loadQueue();
    if (queued > 0) market.logger.info({ jobs: queued }, 'queued jobs loaded');
    market.chainLink = await ChainLink.open({
      config,
      db,
      clock: market.clock,
      events: market.events,
      logger: options.logger.child({ component: 'courier' }),
      chainKey: options.chainKey,
      chain: options.chain,
      leads: () => market.cluster.leader,
    });
    if (market.chainLink) market.settlement.attachOutbox(market.chainLink.outbox);
    await market.priceBoard.load();
    return market;
  }

  /** Starts the background loops. */
  start(): void {
    this.chainLink?.start();
    this.every(this.config.deadline_sweep_interval_ms, async () => {
      const now = this.clock.nowMs();
      const fallback = this.db.kind === 'pglite' ? undefined : this.config.sweep_fallback_interval_ms;
      if (this.deadlines.due(now) || (fallback !== undefined && now - this.deadlinesReadAtMs >= fallback))
        await this.sweepDeadlines();
    });
    this.every(Math.max(100, Math.floor(this.config.lease_ms / 10)), () =>
      this.dispatcher.sweepLeases().then(() => {}),
    );
    // Reputation retention: entries untouched past provider_reputation_retention are dropped.
    this.every(60_000, () => this.dispatcher.forgetReputation().then(() => {}));
    // Pushes are hints: events kick the dispatcher at once; this tick is the backstop.
    this.every(this.config.dispatch_interval_ms, async () => {
      this.dispatcher.kick();
    });
    // Jobs another node queued or put back reach this node's in-memory queue within a second.
    this.every(Math.max(1000, this.config.dispatch_interval_ms), () =>
      this.dispatcher.resync().then(() => {}),
    );
    // The capacity estimator's moving window takes one sample a second. On PGlite the data
    // directory's lock keeps every other process out, so this node is the whole market: no other
    // node to say it is alive to, to learn capacity, usage or parameters from, or to lead.
    const shared = this.db.kind !== 'pglite';
    this.every(1000, async () => {
      if (shared) await this.cluster.refresh();
      this.admission.sampleCapacity();
      this.admission.prune();
    });
    if (this.config.ledger_check_interval_s > 0)
      this.every(this.config.ledger_check_interval_s * 1000, () => this.checkLedger());
    this.every(this.config.price_board_save_interval * 1000, () => this.priceBoard.save());
    this.every(this.config.blob_sweep_interval_ms, () => this.orphanBlobs.tick().then(() => {}));
    // Webhooks wake on task.completed and task.closed; this tick retries and catches other nodes' tasks.
    this.every(1000, async () => this.webhooks.tick());
    if (this.config.reputation_gossip_interval_s > 0 && peerList(this.config).length > 0)
      this.every(this.config.reputation_gossip_interval_s * 1000, () => this.gossip.autoRound());
  }

  /** Fails the open tasks whose deadline passed, and learns the next deadline. */
  async sweepDeadlines(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      const now = this.clock.nowMs();
      this.deadlinesReadAtMs = now;
      this.deadlines.reading();
      let next = await nextOpenDeadline(this.db);
      if (next !== null && next <= now) {
        const n = await this.tasks.expireOverdue();
        if (n > 0) this.logger.info({ tasks: n }, 'deadline passed: tasks failed and refunded');
        next = await nextOpenDeadline(this.db);
      }
      this.deadlines.read(next);
    } catch (err) {
      this.deadlines.read(Number.NEGATIVE_INFINITY);
      this.logger.error({ err }, 'deadline sweep failed');
    } finally {
      this.sweeping = false;
    }
  }

  async checkLedger(): Promise<void> {
    const report = await verifyLedger(this.db);
    if (!report.ok) {
      this.logger.fatal({ violations: report.violations }, 'ledger invariant violated');
      this.events.emit('ledger.violation', { violations: report.violations });
    }
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.followers.close();
    await this.orphanBlobs.idle();
    await this.webhooks.stop();
    await this.dispatcher.stop();
    await this.tasks.flushed();
    await this.cluster
      .leave()
      .catch((err: unknown) => this.logger.warn({ err }, 'could not sign this node off the cluster'));
    await this.chainLink?.close();
    // The board is a warm start only: a failed save must not keep the database open.
    await this.priceBoard
      .save()
      .catch((err: unknown) => this.logger.warn({ err }, 'price board not saved on shutdown'));
    await this.db.close();
  }

  private every(ms: number, fn: () => Promise<void>): void {
    const timer = setInterval(
      () => void fn().catch((err: unknown) => this.logger.error({ err }, 'background task failed')),
      ms,
    );
    timer.unref();
    this.timers.push(timer);
  }
}

/** The operator key lives in the data directory, readable only by its owner; made on first start. */
export function ensureOperatorKey(dataDir: string): string {
  const file = operatorKeyPath(dataDir);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const key = newApiKey('tmop');
  writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return key;
}

export { operatorKeyPath };
