// Several market nodes on one database act as one market (PostgreSQL; on PGlite a node is alone,
// see standAlone). Every second each node says it is
// alive, learns the capacity the other live nodes' workers offer (so admission counts the whole
// market, not one node's share of it), reports its parties' fair-share usage and takes the
// others' (so a buyer is held to one share of the whole market, whichever node it uses), closes offers left open by nodes that stopped, and
// reloads the scheduler parameters when another node changed them.

import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock } from '../domain/clock.js';
import { creditedUnits } from '../domain/verification.js';
import type { Db } from '../store/db.js';
import {
  closeStaleOffers,
  nodeAlive,
  nodeGone,
  leaderNode,
  otherNodesOffers,
  othersUsage,
  paramsVersion,
  reportUsage,
} from '../store/cluster.js';
import type { AdmissionService } from './admission.js';
import type { SchedulerParamsService } from './params.js';

/** A node not seen for this long is taken for gone: its offers no longer count. */
const FRESH_MS = 5_000;
/** A gone node's offers are closed after this long. */
const STALE_MS = 60_000;

export class Cluster {
  readonly nodeId = randomUUID();
  /** Units offered through the other live nodes as their verified work bears them out, as of the last refresh. */
  otherUnits = 0;
  /** Units offered through the other live nodes as the providers say. */
  otherClaimed = 0;
  /**
   * This node leads the cluster (the longest-running live node): it alone runs the courier.
   * A lone node leads; a node that cannot tell (before its first refresh) leads too, since the
   * outbox's conditional updates keep a second courier from sending an entry twice.
   */
  leader = true;
  private paramsSeen: string | null | undefined;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly params: SchedulerParamsService,
    private readonly admission: () => AdmissionService,
    private readonly logger: Logger,
  ) {}

  /** One round: alive, others' capacity, stale offers, parameters. */
  async refresh(): Promise<void> {
    await nodeAlive(this.db, this.nodeId);
    const params = this.params.get();
    const others = await otherNodesOffers(this.db, this.nodeId, FRESH_MS);
    this.otherClaimed = others.reduce((sum, o) => sum + o.units, 0);
    this.otherUnits = others.reduce(
      (sum, o) =>
        sum +
        creditedUnits(
          o.units,
          {
            verifiedJobs: o.verified_jobs,
            verifiedUnits: o.verified_units,
            verifiedMs: o.verified_ms,
            // A stake is known only to the provider's own node: counted as none here.
            staked: false,
            fraud: o.fraud,
          },
          params,
        ),
      0,
    );
    this.leader = (await leaderNode(this.db, FRESH_MS)) === this.nodeId;
    const admission = this.admission();
    // Replaced in one transaction: other nodes never read this node's records half written.
    const records = admission.localRecords();
    await this.db.transaction((tx) => reportUsage(tx, this.nodeId, records));
    admission.setElsewhere(await othersUsage(this.db, this.nodeId, FRESH_MS));
    const closed = await closeStaleOffers(this.db, STALE_MS, this.clock.nowMs());
    if (closed > 0) this.logger.info({ offers: closed }, 'closed offers of market nodes that stopped');
    const version = await paramsVersion(this.db);
    if (this.paramsSeen !== undefined && version !== this.paramsSeen) {
      await this.params.load();
      this.logger.info('scheduler parameters changed on another node: reloaded');
    }
    this.paramsSeen = version;
  }

  /**
   * On PGlite one process at a time holds the database (the data directory's lock), so this node
   * is the whole market and refresh() is not run on a timer: a node an earlier process left in
   * market_nodes (it was killed) is neither leader nor capacity, and its offers are closed at once
   * instead of STALE_MS after it was last seen. Called before any worker joins this node.
   */
  async standAlone(): Promise<void> {
    this.leader = true;
    this.otherUnits = 0;
    this.otherClaimed = 0;
    this.admission().setElsewhere([]);
    const closed = await closeStaleOffers(this.db, 0, this.clock.nowMs());
    if (closed > 0) this.logger.info({ offers: closed }, 'closed offers an earlier run left open');
  }

  async leave(): Promise<void> {
    await nodeGone(this.db, this.nodeId);
  }
}
