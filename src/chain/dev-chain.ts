// The embedded dev chain: a local devnet in the market's own database that behaves like the CPC
// node (ComputeChain b15c176, as recorded in shared/cpc-node): it checks transactions as the
// node's mempool does (gas, fee, key, signature); "received" means its pool took a transaction,
// never that a block holds it; a block takes each sender's pooled transactions only in nonce
// sequence from the sender's account nonce, so a future nonce waits in the pool and a missing or
// dropped one holds every later one back; a SUBMIT_RESULT whose worker_address is not its sender
// is received and then dropped by the next block (the node's "Worker address mismatch"); a
// transaction sent again once a block holds it (or any below the account nonce) is refused
// `nonce_too_low`, and one still in the pool `already_in_pool` (an idempotent success); pooled
// transactions older than txTtlMs are dropped. It keeps no balances: TRANSFERs are recorded,
// not executed.
//
// Blocks come from produceBlock() (tests call it directly, no timers), from tick() when the
// configured interval has passed on the injected clock, or from start()'s timer, which calls
// tick(). Failure injection makes a seeded fraction of submit calls fail retryably, some of
// them after the transaction was stored (a lost reply), for courier tests.

import { secondsOf, type Clock } from '../domain/clock.js';
import { BASE_GAS, DEFAULT_GAS_PRICE, txHash, verifyTx, type SignedTx } from '../domain/chain-tx.js';
import type { Db, Queryable } from '../store/db.js';
import { blockComputeRoot, blockHash, txRoot, ZERO_HASH } from './block.js';
import type { BlockHeader, ChainAccount, ChainBlock, ChainHead, ChainPort, SubmitOutcome } from './port.js';
import { seededRng, type Rng } from '../domain/rng.js';
import { decodeTx, encodeTx } from './wire.js';

export interface FailureInjection {
  /** Fraction of submit calls that fail retryably, 0..1. */
  rate: number;
  /** Of those, the fraction that fail after storing the transaction; default 0. */
  lostReplyShare?: number;
  rng?: Rng;
  seed?: number;
}

/**
 * The advisory lock a node holds while it seals a dev-chain block, with the schema's hash as its
 * second key: advisory locks are per database, and markets in other schemas have chains of their own.
 */
const DEV_CHAIN_LOCK = 7_301_002;

const DEFAULT_MAX_BLOCK_BYTES = 4 * 1024 * 1024;

export interface DevChainOptions {
  db: Queryable;
  clock: Clock;
  blockIntervalMs?: number;
  chainId?: string;
  proposerAddress?: string;
  maxTxsPerBlock?: number;
  /**
   * The most transaction bytes (their stored JSON) a block takes; default 4 MiB. A block holds at
   * least one transaction. The dev chain's own bound: it keeps a backlog of large SUBMIT_RESULTs
   * (~70 kB each) from passing whole through one statement when it is sealed and read.
   */
  maxBlockBytes?: number;
  minGasPrice?: number;
  blockGasLimit?: number;
  /**
   * The node drops a SUBMIT_RESULT whose worker_address is not its sender (after taking it into
   * its pool); default true. False: such results are included (the chain before issue #13).
   */
  requireWorkerIsSender?: boolean;
  /** Pooled transactions older than this are dropped, as the node's mempool TTL; default 1 h. */
  txTtlMs?: number;
  /** The most pooled transactions per sender; more are refused `queued_limit_exceeded` (retryable). */
  maxPooledPerSender?: number;
  failure?: FailureInjection;
  /** Where errors of timer-driven block production go (start()). */
  onError?: (err: unknown) => void;
}

export interface DevChainStats {
  submitted: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  injectedFailures: number;
  /** Pooled transactions a block dropped (failed execution) or the TTL expired. */
  dropped: number;
}

// The header's `timestamp` is Unix seconds (the CPC wire format, inside the block hash); the row
// keeps it as Unix ms like every time column (block_time_ms = timestamp × 1000, exact).
type BlockRow = Omit<BlockHeader, 'timestamp'> & { hash: string; block_time_ms: number };

export class DevChain implements ChainPort {
  readonly stats: DevChainStats = {
    submitted: 0,
    accepted: 0,
    duplicates: 0,
    rejected: 0,
    injectedFailures: 0,
    dropped: 0,
  };
  private readonly db: Queryable;
  private readonly clock: Clock;
  private readonly intervalMs: number;
  private readonly rng: Rng | undefined;
  private lastBlockMs: number;
  private producing: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(
    private readonly opts: DevChainOptions,
    lastBlockMs: number,
  ) {
    this.db = opts.db;
    this.clock = opts.clock;
    this.intervalMs = opts.blockIntervalMs ?? 5000;
    const f = opts.failure;
    if (f && !(f.rate >= 0 && f.rate <= 1)) throw new RangeError('failure.rate must be between 0 and 1');
    this.rng = f ? (f.rng ?? seededRng(f.seed ?? 1)) : undefined;
    this.lastBlockMs = lastBlockMs;
  }

  /** Opens the chain on its tables (migration 0005_courier.sql), sealing block 0 if new. */
  static async open(opts: DevChainOptions): Promise<DevChain> {
    const chain = new DevChain(opts, opts.clock.nowMs());
    const head = await chain.headRow();
    if (head) chain.lastBlockMs = head.block_time_ms;
    else await chain.sealNext(true);
    return chain;
  }

  async submit(tx: SignedTx): Promise<SubmitOutcome> {
    if (this.closed) return { accepted: false, retryable: true, error: 'the dev chain is closed' };
    this.stats.submitted++;
    const f = this.opts.failure;
    if (f && this.rng && this.rng() < f.rate) {
      this.stats.injectedFailures++;
      // A lost reply: the chain has the transaction but the sender never hears so.
      if (this.rng() < (f.lostReplyShare ?? 0)) await this.store(tx);
      return { accepted: false, retryable: true, error: 'injected failure' };
    }
    return this.store(tx);
  }

  private async store(tx: SignedTx): Promise<SubmitOutcome> {
    const problem = verifyTx(tx, this.opts.minGasPrice ?? DEFAULT_GAS_PRICE);
    if (problem) {
      this.stats.rejected++;
      return { accepted: false, retryable: false, error: `${problem.code}: ${problem.message}` };
    }
    const hash = txHash(tx);
    const accountNonce = await this.accountNonce(tx.from_address);
    if (tx.nonce < accountNonce) {
      // The node's answer to a transaction a block already holds, sent again.
      this.stats.rejected++;
      return {
        accepted: false,
        retryable: false,
        mayBeIncluded: true,
        error: `nonce_too_low: account nonce ${accountNonce}, got ${tx.nonce}`,
      };
    }
    const found = await this.findTx(hash);
    if (found) {
      this.stats.duplicates++;
      return { accepted: true, txHash: hash, duplicate: true };
    }
    const cap = this.opts.maxPooledPerSender;
    if (cap !== undefined) {
      const [row] = await this.db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM chain_txs WHERE sender = $1 AND height IS NULL',
        [tx.from_address],
      );
      if ((row?.n ?? 0) >= cap) {
        this.stats.rejected++;
        return { accepted: false, retryable: true, error: 'queued_limit_exceeded' };
      }
    }
    const execError =
      this.opts.requireWorkerIsSender !== false &&
      tx.tx_type === 'SUBMIT_RESULT' &&
      tx.payload.worker_address !== tx.from_address
        ? `Invalid ComputeResult: Worker address mismatch: payload ${tx.payload.worker_address} vs tx ${tx.from_address}`
        : null;
    const inserted = await this.db.query(
      `INSERT INTO chain_txs (tx_hash, sender, nonce, tx_type, body, submitted_at_ms, exec_error)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING tx_hash`,
      [hash, tx.from_address, tx.nonce, tx.tx_type, encodeTx(tx), this.clock.nowMs(), execError],
    );
    if (inserted.length > 0) {
      this.stats.accepted++;
      return { accepted: true, txHash: hash };
    }
    this.stats.rejected++;
    return {
      accepted: false,
      retryable: false,
      error: `nonce_in_pool: ${tx.from_address} has another transaction at nonce ${tx.nonce} in the pool`,
    };
  }

  /** The next nonce a block takes from `sender`: one past its highest included nonce. */
  private async accountNonce(sender: string, q: Queryable = this.db): Promise<number> {
    // Down the (sender, nonce) index from the top: only the pooled ones are passed over.
    const [row] = await q.query<{ next: string }>(
      `SELECT (nonce + 1)::text AS next FROM chain_txs WHERE sender = $1 AND height IS NOT NULL
       ORDER BY nonce DESC LIMIT 1`,
      [sender],
    );
    return row === undefined ? 0 : Number(row.next);
  }

  async account(address: string): Promise<ChainAccount> {
    const nonce = await this.accountNonce(address);
    const pooled = await this.db.query<{ nonce: string; exec_error: string | null }>(
      `SELECT nonce::text, exec_error FROM chain_txs WHERE sender = $1 AND height IS NULL AND nonce >= $2
       ORDER BY nonce`,
      [address, nonce],
    );
    // The pool's run in sequence from the account nonce; one that will fail execution ends it.
    let pendingNonce = nonce;
    for (const p of pooled) {
      if (Number(p.nonce) !== pendingNonce || p.exec_error !== null) break;
      pendingNonce++;
    }
    return { nonce, pendingNonce };
  }

  /** Where a transaction is: height null while pending; undefined if the chain never saw it. */
  async findTx(hash: string): Promise<{ height: number | null } | undefined> {
    const rows = await this.db.query<{ height: number | null }>(
      'SELECT height FROM chain_txs WHERE tx_hash = $1',
      [hash],
    );
    return rows[0];
  }

  /** Drops a pooled transaction as a node that lost it would (a restart, an eviction). Tests use it. */
  async dropPooled(hash: string): Promise<boolean> {
    const rows = await this.db.query(
      'DELETE FROM chain_txs WHERE tx_hash = $1 AND height IS NULL RETURNING tx_hash',
      [hash],
    );
    this.stats.dropped += rows.length;
    return rows.length > 0;
  }

  /**
   * A reorganisation, for tests: the blocks from `height` up are dropped; their transactions go
   * back to the pool (`requeue`, as a node that switched forks re-pools them) or are lost. The
   * next block is sealed at `height` on top of the block below it.
   */
  async dropBlocksFrom(height: number, opts: { requeue: boolean }): Promise<number> {
    await this.producing;
    const txs = opts.requeue
      ? await this.db.query(
          'UPDATE chain_txs SET height = NULL, position = NULL WHERE height >= $1 RETURNING tx_hash',
          [height],
        )
      : await this.db.query('DELETE FROM chain_txs WHERE height >= $1 RETURNING tx_hash', [height]);
    if (!opts.requeue) this.stats.dropped += txs.length;
    await this.db.query('DELETE FROM chain_blocks WHERE height >= $1', [height]);
    return txs.length;
  }

  async pendingCount(): Promise<number> {
    const rows = await this.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM chain_txs WHERE height IS NULL',
    );
    return rows[0]?.n ?? 0;
  }

  /** Seals the pending transactions (oldest first, up to maxTxsPerBlock) into the next block. */
  produceBlock(): Promise<ChainBlock> {
    // One producer at a time: the timer and a test calling in must not race for a height.
    const next = this.producing.then(() => this.sealNext());
    this.producing = next.catch(() => undefined);
    return next;
  }

  /** When this process last sealed a block (or the head's time, at open), in ms. */
  get lastBlockAt(): number {
    return this.lastBlockMs;
  }

  /** Produces a block when the interval has passed on the clock since the last one. */
  async tick(): Promise<ChainBlock | undefined> {
    if (this.clock.nowMs() - this.lastBlockMs < this.intervalMs) return undefined;
    return this.produceBlock();
  }

  /** Calls tick() every blockIntervalMs of real time, until close(). */
  start(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => {
      this.tick().catch((err: unknown) => this.opts.onError?.(err));
    }, this.intervalMs);
    this.timer.unref();
  }

  async getBlock(height: number): Promise<ChainBlock | undefined> {
    if (!Number.isSafeInteger(height) || height < 0) return undefined;
    const rows = await this.db.query<BlockRow>('SELECT * FROM chain_blocks WHERE height = $1', [height]);
    const row = rows[0];
    if (!row) return undefined;
    const txRows = await this.db.query<{ body: string }>(
      'SELECT body FROM chain_txs WHERE height = $1 ORDER BY position',
      [height],
    );
    const txs = txRows.map((r) => {
      const d = decodeTx(JSON.parse(r.body));
      if (!d.ok) throw new Error(`dev chain block ${height} holds an unreadable transaction: ${d.error}`);
      return d.tx;
    });
    return { hash: row.hash, header: headerOf(row), txs, other_txs: [] };
  }

  async head(): Promise<ChainHead> {
    const row = await this.headRow();
    if (!row) throw new Error('the dev chain has no blocks; open it with DevChain.open');
    return { height: row.height, hash: row.hash };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.producing;
  }

  /**
   * What the next block takes, as the node's proposer does: each sender's pooled transactions in
   * nonce sequence from its account nonce (senders in the order their first one arrived), up to
   * maxTxsPerBlock. One that fails execution is dropped and holds the sender's later ones back.
   */
  private async selectForBlock(
    q: Queryable,
  ): Promise<{ taken: { tx_hash: string; tx: SignedTx }[]; dropped: string[] }> {
    // The pool without its bodies: a backlog of large SUBMIT_RESULTs is read only as far as the
    // block takes it (on PGlite a statement's rows pass whole through a heap that never shrinks).
    const pooled = await q.query<{
      tx_hash: string;
      sender: string;
      nonce: string;
      bytes: number;
      exec_error: string | null;
    }>(
      `SELECT tx_hash, sender, nonce::text, octet_length(body) AS bytes, exec_error FROM chain_txs
       WHERE height IS NULL ORDER BY seq`,
    );
    const bySender = new Map<string, typeof pooled>();
    for (const p of pooled) {
      const list = bySender.get(p.sender) ?? [];
      list.push(p);
      bySender.set(p.sender, list);
    }
    const max = this.opts.maxTxsPerBlock ?? 1000;
    const maxBytes = this.opts.maxBlockBytes ?? DEFAULT_MAX_BLOCK_BYTES;
    const chosen: string[] = [];
    const dropped: string[] = [];
    let bytes = 0;
    for (const [sender, list] of bySender) {
      if (chosen.length >= max || bytes >= maxBytes) break;
      list.sort((a, b) => Number(a.nonce) - Number(b.nonce));
      let expected = await this.accountNonce(sender, q);
      for (const p of list) {
        if (chosen.length >= max || Number(p.nonce) !== expected) break;
        if (p.exec_error !== null) {
          dropped.push(p.tx_hash);
          break;
        }
        // A block holds at least one transaction, however large.
        if (chosen.length > 0 && bytes + Number(p.bytes) > maxBytes) break;
        chosen.push(p.tx_hash);
        bytes += Number(p.bytes);
        expected++;
      }
    }
    const bodies = new Map(
      (
        await q.query<{ tx_hash: string; body: string }>(
          'SELECT tx_hash, body FROM chain_txs WHERE tx_hash = ANY($1::text[])',
          [chosen],
        )
      ).map((r) => [r.tx_hash, r.body]),
    );
    const taken = chosen.map((hash) => {
      const d = decodeTx(JSON.parse(bodies.get(hash) as string));
      if (!d.ok) throw new Error(`pending transaction ${hash} is unreadable: ${d.error}`);
      return { tx_hash: hash, tx: d.tx };
    });
    return { taken, dropped };
  }

  private async headRow(q: Queryable = this.db): Promise<BlockRow | undefined> {
    const rows = await q.query<BlockRow>('SELECT * FROM chain_blocks ORDER BY height DESC LIMIT 1');
    return rows[0];
  }

  /**
   * Seals the next block. Several market nodes may share one dev chain (one database): with a
   * database that has transactions, a node seals only while it holds the dev chain's advisory
   * lock, so one node at a time produces blocks and the others skip their turn.
   */
  private async sealNext(genesis = false): Promise<ChainBlock> {
    const db = this.db as Partial<Db>;
    if (typeof db.transaction !== 'function') return this.seal(this.db);
    const sealed = await db.transaction(async (tx: Queryable) => {
      if (genesis) {
        // Nodes starting together wait their turn; the first seals block 0, the rest find it.
        await tx.query('SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))', [DEV_CHAIN_LOCK]);
        return (await this.headRow(tx)) ? undefined : this.seal(tx);
      }
      const [lock] = await tx.query<{ ok: boolean }>(
        'SELECT pg_try_advisory_xact_lock($1, hashtext(current_schema())) AS ok',
        [DEV_CHAIN_LOCK],
      );
      return lock?.ok ? this.seal(tx) : undefined;
    });
    if (sealed) return sealed;
    // Another node is sealing this turn: the head it leaves is the answer.
    const head = await this.headRow();
    const block = head ? await this.getBlock(head.height) : undefined;
    if (!block) throw new Error('the dev chain has no blocks; open it with DevChain.open');
    return block;
  }

  private async seal(q: Queryable): Promise<ChainBlock> {
    const prev = await this.headRow(q);
    const nowMs = this.clock.nowMs();
    const expired = await q.query(
      'DELETE FROM chain_txs WHERE height IS NULL AND submitted_at_ms < $1 RETURNING tx_hash',
      [nowMs - (this.opts.txTtlMs ?? 3_600_000)],
    );
    this.stats.dropped += expired.length;
    const { taken, dropped } = await this.selectForBlock(q);
    if (dropped.length > 0) {
      await q.query('DELETE FROM chain_txs WHERE tx_hash = ANY($1::text[]) AND height IS NULL', [dropped]);
      this.stats.dropped += dropped.length;
    }
    const pending = taken;
    const txs = taken.map((r) => r.tx);
    const header: BlockHeader = {
      height: prev ? prev.height + 1 : 0,
      prev_hash: prev ? prev.hash : ZERO_HASH,
      // Never before the previous block, even if the clock went backwards.
      timestamp: Math.max(secondsOf(nowMs), prev ? secondsOf(prev.block_time_ms) : 0),
      chain_id: this.opts.chainId ?? 'taskmarket-devnet',
      proposer_address: this.opts.proposerAddress ?? 'devchain',
      round: 0,
      tx_root: txRoot(pending.map((r) => r.tx_hash)),
      state_root: '',
      compute_root: blockComputeRoot(txs),
      gas_used: txs.reduce((sum, tx) => sum + BASE_GAS[tx.tx_type], 0),
      gas_limit: this.opts.blockGasLimit ?? 10_000_000,
    };
    const hash = blockHash(header);
    // One statement, so the block and its transactions' inclusion commit together.
    await q.query(
      `WITH block AS (
         INSERT INTO chain_blocks (height, hash, prev_hash, block_time_ms, chain_id, proposer_address, round,
                                   tx_root, state_root, compute_root, gas_used, gas_limit, tx_count)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING height)
       UPDATE chain_txs AS t SET height = block.height, position = (x.ord - 1)::int
       FROM block, unnest($14::text[]) WITH ORDINALITY AS x(tx_hash, ord)
       WHERE t.tx_hash = x.tx_hash AND t.height IS NULL`,
      [
        header.height,
        hash,
        header.prev_hash,
        header.timestamp * 1000,
        header.chain_id,
        header.proposer_address,
        header.round,
        header.tx_root,
        header.state_root,
        header.compute_root,
        header.gas_used,
        header.gas_limit,
        txs.length,
        pending.map((r) => r.tx_hash),
      ],
    );
    this.lastBlockMs = nowMs;
    return { hash, header, txs, other_txs: [] };
  }
}

function headerOf(row: BlockRow): BlockHeader {
  return {
    height: row.height,
    prev_hash: row.prev_hash,
    timestamp: secondsOf(row.block_time_ms),
    chain_id: row.chain_id,
    proposer_address: row.proposer_address,
    round: row.round,
    tx_root: row.tx_root,
    state_root: row.state_root,
    compute_root: row.compute_root,
    gas_used: row.gas_used,
    gas_limit: row.gas_limit,
  };
}
