// bench/settlement: receipts settled, payouts batched and the outbox delivered, on PostgreSQL.
//
// (a) Settle: --receipts completed jobs (--jobs-per-task per task, --providers provider
//     addresses, --customers buyers in turn) are written straight into a fresh schema as the
//     dispatcher would leave them before their task completes (tasks in progress with their escrow
//     held, jobs completed at a quoted price), then each --batch of tasks (the dispatcher's group
//     commit: group_commit_max_batch, 256) is completed and settled in one transaction through the
//     real path: completeTasks (which releases the escrow) and SettlementService.settle in Real
//     mode, with the outbox attached.
//     Receipts settled/s and per-transaction latency. Then the start-up receipt check over the
//     stored receipts (checked/s), the payout flush (OutboxWriter.flushPayouts until none wait:
//     payouts/s, TRANSFERs made), and the courier on the result: --courier entries sealed (nonce
//     and secp256k1 signatures) and sent to a no-op chain port (courier transactions/s).
// (b) Flush memory: --outbox sealed pending entries (default 1,000,000) inserted in a fresh schema,
//     flushed by the Courier to a no-op chain port (the chain's own cost left out) in a child
//     process of its own, so its RSS is the flush's: peak RSS and heap sampled every 50 ms while
//     flushing, entries/s. The rows share one signed body (signing a million transactions would
//     take half an hour and measure secp256k1, not the flush); the courier decodes each.
// (c) Courier alone (--part courier, not part of `both`): --courier SUBMIT_RESULT drafts written
//     straight into a fresh schema, then sealed (nonces, two secp256k1 signatures each) and sent to
//     the no-op chain port: transactions/s and sealing ms per transaction, without settlement.
//
// (d) Inclusion (--part inclusion, not part of `both`): --inclusion SUBMIT_RESULT drafts sealed
//     and sent by the Courier over HTTP to the double of the CPC node (src/chain/node-double.ts,
//     over a dev chain that takes nonces in sequence as the node does) until every one is final
//     (chain_confirmations 2): transactions included per second, blocks sealed every round.
//
// Writes bench/results/settlement.json (--part settle|flush|courier|inclusion keeps the other
// parts' last figures).
// Schemas are dropped afterwards. BENCH_QUERY_TIMES=1 prints the time settle spent per statement.
//
//   npm run build && node bench/settlement.mjs [--receipts 100000] [--batch 256] [--jobs-per-task 1]
//       [--providers 100] [--customers 1000] [--courier 20000] [--outbox 1000000] [--inclusion 5000]
//       [--part both|settle|flush|courier|inclusion]

import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { clearInterval, setInterval } from 'node:timers';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { encodeTx } from '../dist/chain/wire.js';
import { systemClock } from '../dist/domain/clock.js';
import { sealDraft } from '../dist/domain/courier.js';
import { addressFromPublicKey, generateKeyPair, publicKeyFromPrivate } from '../dist/domain/identity.js';
import { Courier } from '../dist/market/courier.js';
import { MarketEventBus } from '../dist/market/events.js';
import { verifyLedger } from '../dist/market/ledger.js';
import { OutboxWriter } from '../dist/market/outbox.js';
import { checkStoredReceipts } from '../dist/market/receipt-check.js';
import { SettlementService } from '../dist/market/settlement.js';
import { completeTasks } from '../dist/store/tasks.js';
import { openDatabase } from '../dist/store/open.js';
import { PG_URL, seedCompleted, writeResults } from './lib.mjs';

const { values } = parseArgs({
  options: {
    receipts: { type: 'string', default: '100000' },
    batch: { type: 'string', default: '256' },
    'jobs-per-task': { type: 'string', default: '1' },
    providers: { type: 'string', default: '100' },
    customers: { type: 'string', default: '1000' },
    courier: { type: 'string', default: '20000' },
    outbox: { type: 'string', default: '1000000' },
    inclusion: { type: 'string', default: '5000' },
    'page-size': { type: 'string', default: '500' },
    'payout-page': { type: 'string', default: '100000' },
    part: { type: 'string', default: 'both' },
    // Tasks per SUBMIT_RESULT for --part courier|inclusion: 1 is one transaction per task (the
    // form before results were batched), 256 a settlement batch's (MAX_RESULTS_PER_TX); each
    // size listed runs in turn, in the same process, for a same-run ratio.
    'tasks-per-tx': { type: 'string', default: '1,256' },
  },
});
const RECEIPTS = Number(values.receipts);
const BATCH = Number(values.batch);
const JOBS_PER_TASK = Number(values['jobs-per-task']);
const PROVIDERS = Number(values.providers);
const CUSTOMERS = Number(values.customers);
const COURIER = Number(values.courier);
const OUTBOX = Number(values.outbox);
const INCLUSION = Number(values.inclusion);
const PAGE = Number(values['page-size']);
const TASKS_PER_TX = values['tasks-per-tx'].split(',').map(Number);
const PAYOUT_PAGE = Number(values['payout-page']);
const CHAIN_KEY = '00000000000000000000000000000000000000000000000000000000000c4a17';
const logger = pino({ level: 'silent' });
const MiB = (n) => Math.round((n / 1048576) * 10) / 10;

/** A chain that takes everything at once: the courier's own cost, without a chain's. */
const noopChain = {
  submit: async (tx) => ({ accepted: true, txHash: String(tx.nonce) }),
  getBlock: async () => undefined,
  head: async () => ({ height: 0, hash: '' }),
  account: async () => ({ nonce: 0, pendingNonce: 0 }),
  close: async () => {},
};
const CHAIN_SENDER = addressFromPublicKey(publicKeyFromPrivate(CHAIN_KEY));

async function freshDb(tag) {
  const schema = `bench_settle_${tag}_${process.pid}_${Date.now()}`;
  const db = await openDatabase({ databaseUrl: PG_URL, schema, poolSize: 4 });
  return {
    db,
    async drop() {
      await db.query(`DROP SCHEMA "${schema}" CASCADE`);
      await db.close();
    },
  };
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))];
}

// ─── (a) settle ──────────────────────────────────────────────────────────────────────────────

async function settlePart() {
  const { db, drop } = await freshDb('a');
  try {
    let t = performance.now();
    const { done, receipts } = await seedCompleted(db, {
      tasks: Math.ceil(RECEIPTS / JOBS_PER_TASK),
      jobsPerTask: JOBS_PER_TASK,
      customers: CUSTOMERS,
      providers: PROVIDERS,
    });
    const seedS = (performance.now() - t) / 1000;
    console.log(`seeded ${receipts} completed jobs in ${done.length} tasks in ${seedS.toFixed(1)} s`);

    const events = new MarketEventBus();
    let applied = 0;
    events.on('settle.applied', () => applied++);
    const settlement = new SettlementService(db, systemClock, events, logger);
    await settlement.load({ checkReceipts: false });
    await settlement.command({ type: 'arm', delayMs: 0 });
    const outbox = new OutboxWriter(CHAIN_KEY, systemClock);
    settlement.attachOutbox(outbox);

    const latencies = [];
    t = performance.now();
    const nowS = Math.floor(Date.now() / 1000);
    for (let i = 0; i < done.length; i += BATCH) {
      const s = performance.now();
      await db.transaction(async (tx) => {
        const q = timed(tx);
        const completed = await completeTasks(q, done.slice(i, i + BATCH), nowS);
        await settlement.settle(
          q,
          completed.map((c) => ({ taskId: c.task_id, escrowHeld: BigInt(c.escrow_held) })),
        );
      });
      latencies.push(performance.now() - s);
    }
    const settleS = (performance.now() - t) / 1000;
    if (settlement.mode() !== 'Real') throw new Error(`settlement fell back to ${settlement.mode()}`);
    if (applied !== receipts) throw new Error(`${applied} receipts applied, expected ${receipts}`);
    latencies.sort((a, b) => a - b);
    const settle = {
      receipts,
      tasks: done.length,
      batch_tasks: BATCH,
      receipts_per_transaction: BATCH * JOBS_PER_TASK,
      seconds: round(settleS),
      receipts_per_s: Math.round(receipts / settleS),
      transaction_ms: {
        p50: round(percentile(latencies, 0.5)),
        p99: round(percentile(latencies, 0.99)),
        max: round(latencies[latencies.length - 1]),
      },
    };
    console.log(
      `settle: ${receipts} receipts in ${settleS.toFixed(2)} s = ${settle.receipts_per_s}/s ` +
        `(transaction of ${settle.receipts_per_transaction}: p50 ${settle.transaction_ms.p50} ms, p99 ${settle.transaction_ms.p99} ms)`,
    );

    const check = await checkStoredReceipts(db, { max: 0 });
    if (check.checked !== receipts || check.corrupt !== 0)
      throw new Error(`receipt check: ${JSON.stringify(check)}`);
    const startupCheck = {
      receipts: check.checked,
      seconds: round(check.ms / 1000),
      receipts_per_s: Math.round(check.checked / (check.ms / 1000)),
    };
    console.log(
      `start-up receipt check: ${check.checked} in ${check.ms} ms = ${startupCheck.receipts_per_s}/s`,
    );

    t = performance.now();
    let payouts = 0;
    let transfers = 0;
    for (;;) {
      const r = await outbox.flushPayouts(db, PAYOUT_PAGE);
      if (r.claimed === 0) break;
      payouts += r.claimed;
      transfers += r.transfers;
    }
    const payoutS = (performance.now() - t) / 1000;
    const payoutFlush = {
      payouts,
      transfers,
      seconds: round(payoutS),
      payouts_per_s: Math.round(payouts / payoutS),
    };
    console.log(`payout flush: ${payouts} payouts → ${transfers} TRANSFERs in ${payoutS.toFixed(2)} s`);

    // The courier on what settlement queued: the oldest --courier drafts sealed and sent.
    const courierFigures = await runCourier(db, outbox, events);
    const ledger = await verifyLedger(db);
    if (!ledger.ok) throw new Error(`ledger: ${ledger.violations.join('; ')}`);
    return {
      seed_seconds: round(seedS),
      settle,
      startup_check: startupCheck,
      payout_flush: payoutFlush,
      courier: courierFigures,
      ledger_ok: true,
    };
  } finally {
    await drop();
  }
}

// ─── the courier ─────────────────────────────────────────────────────────────────────────────

/** A courier over the no-op chain, reading --page-size rows a page, sealing with `seal`. */
function noopCourier(db, events, seal, chain = noopChain, clock = systemClock) {
  return new Courier({
    db,
    chain,
    clock,
    events,
    logger,
    sender: CHAIN_SENDER,
    seal,
    // The no-op chain reports nonce 0; the local sequence stays where sealing put it.
    syncNonce: async () => undefined,
    batch: PAGE,
    backoffBaseMs: 1000,
    backoffMaxMs: 8000,
    confirmations: 2,
    txTtlMs: 3_600_000,
  });
}

/**
 * Seals (nonces and secp256k1 signatures) and sends the oldest --courier drafts to the no-op chain:
 * courier transactions/s, and how much of it was sealing.
 */
async function runCourier(db, outbox, events, total = COURIER) {
  let sealed = 0;
  let sealMs = 0;
  let sealCpuUs = 0;
  const courier = noopCourier(db, events, async (limit) => {
    if (sealed >= total) return 0;
    const s = performance.now();
    const cpu = process.cpuUsage();
    const n = await outbox.seal(db, Math.min(limit, total - sealed));
    sealMs += performance.now() - s;
    const used = process.cpuUsage(cpu);
    sealCpuUs += used.user + used.system;
    sealed += n;
    return n;
  });
  const t = performance.now();
  const report = await courier.flush({ force: true });
  const courierS = (performance.now() - t) / 1000;
  const [pending] = await db.query(`SELECT count(*)::int AS n FROM outbox WHERE status = 'pending'`);
  const figures = {
    queued: sealed + pending.n,
    sent: report.sent,
    seconds: round(courierS),
    transactions_per_s: Math.round(report.sent / courierS),
    seal_seconds: round(sealMs / 1000),
    seal_ms_per_tx: round(sealMs / Math.max(1, sealed)),
    // This process's CPU time: what signing costs, less skewed than wall time on a busy machine.
    seal_cpu_ms_per_tx: round(sealCpuUs / 1000 / Math.max(1, sealed)),
    send_seconds: round(courierS - sealMs / 1000),
    sends_per_s: Math.round(report.sent / (courierS - sealMs / 1000)),
  };
  console.log(
    `courier: ${report.sent} of ${figures.queued} queued transactions sealed and sent in ` +
      `${courierS.toFixed(2)} s = ${figures.transactions_per_s}/s (sealing ${figures.seal_seconds} s, ` +
      `${figures.seal_ms_per_tx} ms/tx, CPU ${figures.seal_cpu_ms_per_tx} ms/tx; sending alone ${figures.sends_per_s}/s)`,
  );
  return figures;
}

/**
 * SUBMIT_RESULT drafts as settlement queues them for `n` completed tasks, straight into the
 * outbox: one per task (`perTx` 1, the one-task form) or one per `perTx` tasks (a result batch).
 * Returns how many drafts that is.
 */
async function seedResultDrafts(db, n, perTx = 1) {
  const providers = Array.from({ length: PROVIDERS }, () => generateKeyPair().address);
  if (perTx === 1) {
    await db.query(
      `INSERT INTO outbox (kind, dedup_key, draft, next_attempt_at_ms, created_at_ms)
       SELECT 'SUBMIT_RESULT', 'result:' || t.id,
              jsonb_build_object('type', 'task_result', 'task_id', t.id, 'worker_address', ($1::text[])[1 + t.i % $2::int],
                                 'result_hash', encode(sha256(t.i::text::bytea), 'hex'),
                                 'job_hashes', jsonb_build_array(encode(sha256((t.i::text || ':0')::bytea), 'hex'))),
              0, 0
       FROM (SELECT i, gen_random_uuid()::text AS id FROM generate_series(0, $3::int - 1) AS i) AS t`,
      [providers, PROVIDERS, n],
    );
  } else {
    await db.query(
      `INSERT INTO outbox (kind, dedup_key, draft, next_attempt_at_ms, created_at_ms)
       SELECT 'SUBMIT_RESULT', 'results:' || g || ':' || gen_random_uuid(),
              jsonb_build_object('type', 'result_batch', 'tasks', jsonb_agg(jsonb_build_object(
                'task_id', t.id, 'worker_address', ($1::text[])[1 + t.i % $2::int],
                'result_hash', encode(sha256(t.i::text::bytea), 'hex'),
                'job_hashes', jsonb_build_array(encode(sha256((t.i::text || ':0')::bytea), 'hex'))) ORDER BY t.i)),
              0, 0
       FROM (SELECT i, i / $4::int AS g, gen_random_uuid()::text AS id FROM generate_series(0, $3::int - 1) AS i) AS t
       GROUP BY g ORDER BY g`,
      [providers, PROVIDERS, n, perTx],
    );
  }
  await db.query('ANALYZE outbox');
  return Math.ceil(n / perTx);
}

/**
 * (d) The courier against the double of the CPC node, over HTTP: --inclusion results sealed,
 * sent, seen in blocks and final (two confirmations), a block sealed after every flush.
 */
async function inclusionPart() {
  const out = {};
  for (const perTx of TASKS_PER_TX) out[`tasks_per_tx_${perTx}`] = await inclusionOnce(perTx);
  ratios(out, 'tasks_included_per_s');
  return out;
}

/** After runs of several batch sizes: each one's figure against one task per transaction's. */
function ratios(out, key) {
  const base = out.tasks_per_tx_1?.[key];
  if (!base) return;
  for (const [k, v] of Object.entries(out))
    if (k !== 'tasks_per_tx_1') v[`${key}_vs_one_per_tx`] = round(v[key] / base);
}

async function inclusionOnce(perTx) {
  const { db, drop } = await freshDb('d');
  const { DevChain } = await import('../dist/chain/dev-chain.js');
  const { HttpChainClient } = await import('../dist/chain/http-client.js');
  const { startMockNode } = await import('../dist/chain/node-double.js');
  const { ManualClock } = await import('../dist/domain/clock.js');
  const clock = new ManualClock(Date.now());
  const chain = await DevChain.open({ db, clock, maxTxsPerBlock: 100_000 });
  const node = await startMockNode(chain);
  const client = new HttpChainClient({ baseUrl: node.url, timeoutMs: 60_000 });
  try {
    const txCount = await seedResultDrafts(db, INCLUSION, perTx);
    const outbox = new OutboxWriter(CHAIN_KEY, clock);
    const events = new MarketEventBus();
    const courier = new Courier({
      db,
      chain: client,
      clock,
      events,
      logger,
      sender: outbox.sender,
      seal: (limit) => outbox.seal(db, limit),
      syncNonce: (account) => outbox.syncNonce(db, account),
      batch: PAGE,
      backoffBaseMs: 1000,
      backoffMaxMs: 8000,
      confirmations: 2,
      txTtlMs: 3_600_000,
    });
    const t = performance.now();
    let rounds = 0;
    let blockMs = 0;
    for (;;) {
      rounds++;
      await courier.flush();
      const [left] = await db.query(`SELECT count(*)::int AS n FROM outbox WHERE status <> 'final'`);
      if (left.n === 0) break;
      clock.advance(1000);
      const b = performance.now();
      await chain.produceBlock();
      blockMs += performance.now() - b;
      if (rounds > 100) throw new Error(`not final after ${rounds} rounds: ${left.n} left`);
    }
    const s = (performance.now() - t) / 1000;
    const [onChain] = await db.query('SELECT count(*)::int AS n FROM chain_txs WHERE height IS NOT NULL');
    if (onChain.n !== txCount) throw new Error(`${onChain.n} of ${txCount} on chain`);
    const figures = {
      tasks: INCLUSION,
      tasks_per_tx: perTx,
      transactions: txCount,
      rounds,
      seconds: round(s),
      included_per_s: Math.round(txCount / s),
      tasks_included_per_s: Math.round(INCLUSION / s),
      // The double's own block sealing is part of the time; without it:
      courier_seconds: round(s - blockMs / 1000),
      courier_included_per_s: Math.round(txCount / (s - blockMs / 1000)),
      http_requests: node.requests.length,
    };
    console.log(
      `inclusion: ${INCLUSION} task results in ${txCount} SUBMIT_RESULTs (${perTx} a tx) sealed, sent over HTTP and final ` +
        `(2 confirmations) in ${s.toFixed(2)} s = ${figures.tasks_included_per_s} tasks included/s, ${figures.included_per_s} tx/s ` +
        `(${figures.courier_included_per_s} tx/s without the double's block sealing), ${rounds} rounds`,
    );
    return figures;
  } finally {
    await client.close();
    await node.close();
    await chain.close();
    await drop();
  }
}

/**
 * The courier alone (--part courier): --courier SUBMIT_RESULT drafts, as settlement queues them
 * for completed tasks, written straight into a fresh schema, then sealed and sent.
 */
async function courierPart() {
  const out = {};
  for (const perTx of TASKS_PER_TX) {
    const { db, drop } = await freshDb('c');
    try {
      const txs = await seedResultDrafts(db, COURIER, perTx);
      const f = await runCourier(db, new OutboxWriter(CHAIN_KEY, systemClock), new MarketEventBus(), txs);
      const perTask = {
        tasks: COURIER,
        tasks_per_tx: perTx,
        tasks_per_s: Math.round(COURIER / f.seconds),
        seal_cpu_ms_per_task: round((f.seal_cpu_ms_per_tx * f.sent) / COURIER),
      };
      console.log(
        `courier, ${perTx} task(s) a SUBMIT_RESULT: ${perTask.tasks_per_s} task results/s, ` +
          `sealing CPU ${perTask.seal_cpu_ms_per_task} ms a task`,
      );
      out[`tasks_per_tx_${perTx}`] = { ...f, ...perTask };
    } finally {
      await drop();
    }
  }
  ratios(out, 'tasks_per_s');
  return out;
}

// ─── (b) flush memory ────────────────────────────────────────────────────────────────────────

async function flushPart() {
  const { db, drop } = await freshDb('b');
  try {
    const sender = addressFromPublicKey(publicKeyFromPrivate(CHAIN_KEY));
    const draft = {
      type: 'task_result',
      task_id: randomUUID(),
      result_hash: 'ab'.repeat(32),
      worker_address: sender,
      job_hashes: ['cd'.repeat(32)],
    };
    const body = encodeTx(sealDraft(draft, 0, CHAIN_KEY, Math.floor(Date.now() / 1000)));
    let t = performance.now();
    const CHUNK = 100_000;
    for (let from = 0; from < OUTBOX; from += CHUNK) {
      await db.query(
        `INSERT INTO outbox (kind, dedup_key, draft, sender, nonce, body, tx_hash, next_attempt_at_ms, created_at_ms)
         SELECT 'SUBMIT_RESULT', 'bench:' || i, $1::jsonb, $2, i, $3, encode(sha256(i::text::bytea), 'hex'), 0, 0
         FROM generate_series($4::bigint, $5::bigint - 1) AS i`,
        [JSON.stringify(draft), sender, body, from, Math.min(OUTBOX, from + CHUNK)],
      );
    }
    await db.query(`INSERT INTO chain_nonces (sender, next_nonce) VALUES ($1, $2)`, [sender, OUTBOX]);
    await db.query('ANALYZE outbox');
    const seedS = (performance.now() - t) / 1000;
    console.log(`outbox: ${OUTBOX} sealed pending entries inserted in ${seedS.toFixed(1)} s`);

    globalThis.gc?.();
    const before = process.memoryUsage();
    const peak = { rss: before.rss, heapUsed: before.heapUsed };
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peak.rss = Math.max(peak.rss, m.rss);
      peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed);
    }, 50);
    let attempts = 0;
    const events = new MarketEventBus();
    events.on('courier.attempt', () => attempts++);
    const courier = noopCourier(db, events, async () => 0);
    t = performance.now();
    const report = await courier.flush({ force: true });
    const flushS = (performance.now() - t) / 1000;
    clearInterval(sampler);
    const m = process.memoryUsage();
    peak.rss = Math.max(peak.rss, m.rss);
    peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed);
    if (report.sent !== OUTBOX) throw new Error(`flush: ${JSON.stringify(report)}`);
    const figures = {
      entries: OUTBOX,
      page_size: PAGE,
      seed_seconds: round(seedS),
      seconds: round(flushS),
      entries_per_s: Math.round(OUTBOX / flushS),
      rss_mib: {
        before: MiB(before.rss),
        peak: MiB(peak.rss),
        max_rss_of_process: MiB(process.resourceUsage().maxRSS * 1024),
      },
      heap_used_mib: { before: MiB(before.heapUsed), peak: MiB(peak.heapUsed) },
      attempts,
    };
    console.log(
      `flush: ${OUTBOX} entries in ${flushS.toFixed(1)} s = ${figures.entries_per_s}/s; RSS ${figures.rss_mib.before} → ` +
        `peak ${figures.rss_mib.peak} MiB, heap ${figures.heap_used_mib.before} → peak ${figures.heap_used_mib.peak} MiB`,
    );
    return figures;
  } finally {
    await drop();
  }
}

/** Runs part (b) in a child process, so its memory is the flush's alone. */
function flushInChild() {
  return new Promise((resolve, reject) => {
    const args = [
      ...process.execArgv,
      process.argv[1],
      '--part',
      'flush-child',
      '--outbox',
      String(OUTBOX),
      '--page-size',
      String(PAGE),
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      process.stdout.write(
        String(d)
          .split('\n')
          .filter((l) => !l.startsWith('{'))
          .join('\n'),
      );
    });
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`flush child exited with ${code}`));
      const line = out.split('\n').find((l) => l.startsWith('{"flush":'));
      resolve(JSON.parse(line).flush);
    });
  });
}

/** With BENCH_QUERY_TIMES set: time spent per statement (first words of its SQL), printed at exit. */
const queryTimes = new Map();
function timed(tx) {
  if (!process.env.BENCH_QUERY_TIMES) return tx;
  return {
    async query(sql, params) {
      const key = sql.replace(/\s+/g, ' ').slice(0, 60);
      const s = performance.now();
      try {
        return await tx.query(sql, params);
      } finally {
        const e = queryTimes.get(key) ?? { n: 0, ms: 0 };
        e.n++;
        e.ms += performance.now() - s;
        queryTimes.set(key, e);
      }
    },
  };
}
process.on('exit', () => {
  for (const [k, v] of [...queryTimes].sort((a, b) => b[1].ms - a[1].ms))
    console.error(`${v.ms.toFixed(0).padStart(7)} ms ${String(v.n).padStart(6)}× ${k}`);
});

function round(x) {
  return Math.round(x * 1000) / 1000;
}

if (values.part === 'flush-child') {
  const flush = await flushPart();
  console.log(JSON.stringify({ flush }));
} else {
  let previous = {};
  try {
    previous = JSON.parse(readFileSync('bench/results/settlement.json', 'utf8'));
  } catch {
    /* first run */
  }
  const part = values.part;
  const only = part === 'courier' || part === 'inclusion';
  const settle = part === 'flush' || only ? previous.settle : await settlePart();
  const flush = part === 'settle' || only ? previous.flush : await flushInChild();
  const courier = part === 'courier' ? await courierPart() : previous.courier;
  const inclusion = part === 'inclusion' ? await inclusionPart() : previous.inclusion;
  const file = writeResults('settlement', {
    database: 'postgresql',
    cpus: (await import('node:os')).cpus().length,
    targets: { receipts_per_s: 10_000, flush_peak_rss_mib: 200 },
    settle,
    flush,
    ...(courier ? { courier } : {}),
    ...(inclusion ? { inclusion } : {}),
  });
  console.log(`wrote ${file}`);
}
