// The courier against a double of the real CPC node (mock-node.ts over a dev chain that behaves
// like the node), over real HTTP: the recorded market run replayed (20 SUBMIT_RESULTs and 2 payout
// TRANSFERs, test/chain/fixtures/market-run.json) with the courier killed between a send and its
// reply, a reply lost and a 400 after a pool add; then 1,000 tasks settled in Real mode with a
// courier crash mid-flush and the chain down for an hour on a controllable clock. Each ends with
// every transaction included (final) exactly once and each payout paid once: the worker
// balances on the node equal what the market owes them, and no payout journal was reversed.

import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { beforeEach, expect, it } from 'vitest';
import { HttpChainClient } from '../../src/chain/http-client.js';
import { ManualClock } from '../../src/domain/clock.js';
import { SigningKey } from '../../src/domain/signing-key.js';
import {
  MAX_RESULTS_PER_TX,
  parseTaskProof,
  tasksOnChain,
  type OutboxDraft,
} from '../../src/domain/courier.js';
import type { ComputeResult } from '../../src/domain/merkle.js';
import { SYSTEM_ACCOUNTS, transfer } from '../../src/domain/ledger.js';
import type { OutboxWriter } from '../../src/market/outbox.js';
import type { Db } from '../../src/store/db.js';
import { appendJournals } from '../../src/store/ledger.js';
import { countOutboxByStatus, insertDrafts } from '../../src/store/outbox.js';
import { providerAccounts } from '../../src/store/settlement.js';
import { courierRig, useCourierDb } from '../helpers/courier-rig.js';
import { addressOf, keyOf } from './fixtures.js';
import { balanceOf, NODE_PROPOSER, startMockNode, type MockNode } from './mock-node.js';

const T0 = 1_796_338_083_000;
const MARKET_KEY = keyOf(0x5a5a);
const ctx = useCourierDb(T0);
let db: Db;
beforeEach(() => {
  db = ctx.db;
});

/** Thrown by the crashing database: the courier process "dies" at that statement. */
class Killed extends Error {}

async function rig(opts: { scanBlocks?: number } = {}) {
  const clock = new ManualClock(T0);
  const sender = new SigningKey(MARKET_KEY).address;
  const genesis = new Map([[sender, 10n ** 24n]]);
  let node: MockNode | undefined;
  let client: HttpChainClient | undefined;
  /** Statements that kill the courier when they run; each fires once. */
  const killAt: ((sql: string) => boolean)[] = [];
  /** Every error the node's answers to /tx/send became. */
  const answers: string[] = [];
  const crashing: Db = {
    ...db,
    query: (sql, params) => {
      const i = killAt.findIndex((k) => k(sql));
      if (i >= 0) {
        killAt.splice(i, 1);
        return Promise.reject(new Killed('the courier was killed'));
      }
      return db.query(sql, params);
    },
  };
  const { chain, outbox, newCourier } = await courierRig({
    db,
    clock,
    key: MARKET_KEY,
    chain: {
      blockIntervalMs: 1000,
      maxTxsPerBlock: 5000,
      chainId: 'cpc-devnet-1',
      proposerAddress: NODE_PROPOSER,
    },
    port: async (dev) => {
      node = await startMockNode(dev, { genesis, db });
      client = new HttpChainClient({ baseUrl: node.url, timeoutMs: 60_000 });
      const submit = client.submit.bind(client);
      client.submit = async (tx) => {
        const out = await submit(tx);
        if (!out.accepted) answers.push(out.error);
        return out;
      };
      return client;
    },
    courier: {
      db: crashing,
      batch: 200,
      backoffMaxMs: 300_000,
      confirmations: 2,
      ...(opts.scanBlocks ? { scanBlocks: opts.scanBlocks } : {}),
    },
  });
  const theNode = node as MockNode;
  /** The next read of the chain fails (the node's /balance answers 503): the courier sends blind. */
  const blindOnce = () =>
    theNode.overrides.push((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end('{"detail":"busy"}');
    });
  return {
    clock,
    chain,
    outbox,
    node: theNode,
    client: client as HttpChainClient,
    genesis,
    killAt,
    answers,
    blindOnce,
    courier: () => newCourier(),
  };
}

/** Flushes and seals blocks, a second apart, until every entry is final; a killed courier is replaced. */
async function runUntilFinal(r: Awaited<ReturnType<typeof rig>>, rounds = 400) {
  let courier = r.courier();
  let kills = 0;
  for (let i = 0; i < rounds; i++) {
    try {
      await courier.flush();
    } catch (err) {
      if (!(err instanceof Killed)) throw err;
      kills++;
      courier = r.courier(); // a new process, knowing only the database
    }
    const counts = await countOutboxByStatus(db);
    if (counts.final === Object.values(counts).reduce((a, b) => a + b, 0)) return { rounds: i + 1, kills };
    r.clock.advance(1000);
    await r.chain.produceBlock();
  }
  const stuck = await db.query(
    `SELECT status, min(nonce)::int AS lo, max(nonce)::int AS hi, count(*)::int AS n, min(last_error) AS err,
            min(check_reason) AS why, min(sent_height)::int AS sh FROM outbox WHERE status <> 'final' GROUP BY status`,
  );
  const cursor = await db.query('SELECT * FROM chain_cursor');
  const acct = await r.chain.account(r.outbox.sender);
  throw new Error(
    `not final after ${rounds} rounds: ${JSON.stringify({ counts: await countOutboxByStatus(db), stuck, cursor, acct, pool: await r.chain.pendingCount() })}`,
  );
}

async function reversals(): Promise<number> {
  const [row] = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ledger_entries WHERE kind = 'payout' AND ref LIKE 'reversed:%'`,
  );
  return row?.n ?? 0;
}

async function onChain(sender: string) {
  return db.query<{ tx_hash: string; tx_type: string; nonce: number; body: string }>(
    `SELECT tx_hash, tx_type, nonce::int AS nonce, body FROM chain_txs
     WHERE sender = $1 AND height IS NOT NULL ORDER BY nonce`,
    [sender],
  );
}

const fixture = JSON.parse(readFileSync(new URL('./fixtures/market-run.json', import.meta.url), 'utf8')) as {
  worker: string;
  entries: { dedup_key: string; kind: 'SUBMIT_RESULT' | 'TRANSFER'; draft: OutboxDraft }[];
};

it('replays the recorded market run: every SUBMIT_RESULT and TRANSFER lands once, crediting the worker, through a kill, a lost reply and a 400', async () => {
  const r = await rig();
  await insertDrafts(
    db,
    fixture.entries.map((e) => ({ kind: e.kind, dedup_key: e.dedup_key, draft: e.draft })),
    T0,
  );
  // The fifth send loses its reply; the ninth is answered 400 although the pool took it.
  r.node.afterSend.push(...Array<undefined>(4), 'lose_reply', ...Array<undefined>(3), 'bad_request');
  // The courier dies after the node took the first page but before it recorded the answers; a
  // block then holds them, and the next courier's first read of the chain fails, so it sends
  // them again without having seen that block.
  r.killAt.push((sql) => sql.includes("SET status = 'sent'"));
  await expect(r.courier().flush()).rejects.toThrow(Killed);
  r.clock.advance(1000);
  await r.chain.produceBlock();
  r.blindOnce();
  const sends = () => r.node.requests.filter((q) => q.path === '/tx/send').length;

  await runUntilFinal(r);
  const txs = await onChain(r.outbox.sender);
  expect(txs.map((t) => t.nonce)).toEqual(Array.from({ length: 22 }, (_, i) => i));
  expect(txs.filter((t) => t.tx_type === 'SUBMIT_RESULT')).toHaveLength(20);
  expect(txs.filter((t) => t.tx_type === 'TRANSFER')).toHaveLength(2);
  // Every result names the market as its worker (the node's rule) and the real worker in proof.
  for (const t of txs.filter((x) => x.tx_type === 'SUBMIT_RESULT')) {
    const payload = (JSON.parse(t.body) as { payload: { worker_address: string; proof: string } }).payload;
    expect(payload.worker_address).toBe(r.outbox.sender);
    expect(parseTaskProof(payload.proof)?.worker).toBe(fixture.worker);
  }
  // Paid once: 1.75e16 + 3.25e16 on the node, nothing reversed.
  expect(await balanceOf(db, r.genesis, fixture.worker, false)).toBe(5n * 10n ** 16n);
  expect(await reversals()).toBe(0);
  // The node saw 22 distinct transactions; the resends were the same bytes.
  const hashes = new Set(
    r.node.requests
      .filter((q) => q.path === '/tx/send')
      .map((q) => (JSON.parse(q.body) as { signature: string }).signature),
  );
  expect(hashes.size).toBe(22);
  // The killed page was sent again and answered nonce_too_low: looked for and found in a block,
  // never taken as a refusal. The 400 was looked for too.
  expect(sends()).toBeGreaterThan(22);
  expect(r.answers.filter((e) => /nonce_too_low/.test(e)).length).toBeGreaterThan(0);
  expect(r.answers).toContain('HTTP 400: Bad Request');
  await r.client.close();
  await r.node.close();
  await r.chain.close();
}, 120_000);

/** 1,000 Real-mode tasks as settlement leaves them: results queued, worker shares waiting, paid out. */
async function settleThousand(outbox: OutboxWriter, workers: string[]) {
  const tasks = Array.from({ length: 1000 }, (_, i) => ({
    task_id: randomUUID(),
    result_hash: (i + 1).toString(16).padStart(64, '0'),
    worker_address: workers[i % workers.length] as string,
    job_hashes: [(i + 1).toString(16).padStart(64, 'a')],
  }));
  const owed = new Map<string, bigint>();
  const payouts = tasks.map((t, i) => {
    const amount = 10n ** 15n + BigInt(i);
    owed.set(t.worker_address, (owed.get(t.worker_address) ?? 0n) + amount);
    return {
      receipt_key: `r:${t.task_id}`,
      task_id: t.task_id,
      address: t.worker_address,
      asset: 'CPC',
      amount: amount.toString(),
    };
  });
  const accounts = await providerAccounts(db, workers, 'CPC', 0);
  await db.transaction(async (tx) => {
    await appendJournals(
      tx,
      workers.map((w) => ({
        journalId: randomUUID(),
        kind: 'fund' as const,
        ref: null,
        postings: transfer(SYSTEM_ACCOUNTS.external, accounts.get(w) as string, 'CPC', owed.get(w) as bigint),
      })),
      0,
    );
    // Each task its own settlement batch (one SUBMIT_RESULT each): a thousand transactions
    // through the crash and the outage. A batch of many is one transaction (tested below).
    for (const t of tasks) await outbox.queueResults(tx, [t]);
    await outbox.queuePayouts(tx, payouts);
  });
  // Two payout flushes, half the payouts each: two TRANSFERs per worker.
  await outbox.flushPayouts(db, 500);
  await outbox.flushPayouts(db, 500);
  return owed;
}

/** Checks the end state of a 1,000-task run: every transaction included once, each worker paid once. */
async function expectThousandSettled(
  r: Awaited<ReturnType<typeof rig>>,
  workers: string[],
  owed: Map<string, bigint>,
) {
  const txs = await onChain(r.outbox.sender);
  const results = txs.filter((t) => t.tx_type === 'SUBMIT_RESULT');
  expect(results).toHaveLength(1000);
  expect(
    new Set(results.map((t) => (JSON.parse(t.body) as { payload: { task_id: string } }).payload.task_id))
      .size,
  ).toBe(1000);
  expect(txs.filter((t) => t.tx_type === 'TRANSFER')).toHaveLength(20);
  expect(txs.map((t) => t.nonce)).toEqual(Array.from({ length: 1020 }, (_, i) => i));
  expect(new Set(txs.map((t) => t.tx_hash)).size).toBe(1020);
  // Paid exactly what is owed: nothing twice, nothing lost.
  for (const w of workers) expect(await balanceOf(db, r.genesis, w, false)).toBe(owed.get(w));
  expect(await reversals()).toBe(0);
  expect(await countOutboxByStatus(db)).toMatchObject({ final: 1020, failed: 0, held: 0 });
}

it('settles 1,000 tasks in Real mode against the node double: every transaction included, each payout paid once', async () => {
  const r = await rig();
  const workers = Array.from({ length: 10 }, (_, i) => addressOf(0x7000 + i));
  const owed = await settleThousand(r.outbox, workers);
  await runUntilFinal(r);
  await expectThousandSettled(r, workers, owed);
  expect(r.answers).toEqual([]);
  await r.client.close();
  await r.node.close();
  await r.chain.close();
}, 600_000);

it('settles the same 1,000 tasks through a courier crash mid-flush and the chain down for an hour: 0 payouts doubled, 0 lost, every transaction included', async () => {
  const r = await rig();
  const workers = Array.from({ length: 10 }, (_, i) => addressOf(0x7000 + i));
  const owed = await settleThousand(r.outbox, workers);
  // The courier dies after its second page was sent, before the answers were recorded.
  let pages = 0;
  r.killAt.push((sql) => sql.includes("SET status = 'sent'") && ++pages === 2);

  let courier = r.courier();
  await expect(courier.flush()).rejects.toThrow(Killed);
  // A block holds the killed pages; the next courier cannot read the chain at first, so it sends
  // them again blind: the node answers nonce_too_low, which is looked for, never acted on.
  r.clock.advance(1000);
  await r.chain.produceBlock();
  r.blindOnce();
  courier = r.courier();
  expect(await courier.flush()).toMatchObject({ checking: 200, failed: 0 });
  // The chain goes down for an hour: the courier backs off and keeps everything.
  r.node.down = true;
  for (let s = 0; s < 3600; s += 60) {
    await courier.flush();
    r.clock.advance(60_000);
  }
  expect(await countOutboxByStatus(db)).toMatchObject({ failed: 0, held: 0 });
  r.node.down = false;
  await runUntilFinal(r);

  await expectThousandSettled(r, workers, owed);
  // The killed page was sent again, blind, and answered nonce_too_low: looked for, never acted on.
  expect(r.answers.filter((e) => /nonce_too_low/.test(e)).length).toBeGreaterThanOrEqual(200);
  await r.client.close();
  await r.node.close();
  await r.chain.close();
}, 600_000);

it('carries 1,000 tasks settled in one batch as 4 SUBMIT_RESULTs, each landing once and listing its tasks', async () => {
  const r = await rig();
  const tasks = Array.from({ length: 1000 }, (_, i) => ({
    task_id: randomUUID(),
    result_hash: (i + 1).toString(16).padStart(64, '0'),
    worker_address: addressOf(0x7000 + (i % 10)),
    job_hashes: [(i + 1).toString(16).padStart(64, 'a')],
  }));
  await db.transaction(async (tx) => {
    expect(await r.outbox.queueResults(tx, tasks)).toBe(Math.ceil(1000 / MAX_RESULTS_PER_TX));
    // The same batch again (a replay) adds nothing.
    expect(await r.outbox.queueResults(tx, tasks)).toBe(0);
  });
  await runUntilFinal(r);
  const txs = await onChain(r.outbox.sender);
  expect(txs.map((t) => t.tx_type)).toEqual(Array(4).fill('SUBMIT_RESULT'));
  const carried = txs.flatMap((t) =>
    tasksOnChain((JSON.parse(t.body) as { payload: ComputeResult }).payload),
  );
  expect(carried).toEqual(tasks);
  expect(await countOutboxByStatus(db)).toMatchObject({ final: 4, failed: 0, held: 0 });
  expect(r.answers).toEqual([]);
  await r.client.close();
  await r.node.close();
  await r.chain.close();
}, 600_000);

it('holds for the operator an entry whose nonce the chain used for another transaction, and never reverses it', async () => {
  const r = await rig();
  const worker = addressOf(0x7100);
  await insertDrafts(
    db,
    [
      {
        kind: 'TRANSFER',
        dedup_key: 'payout:held:0',
        draft: { type: 'transfer', to: worker, amount: '1000' },
      },
    ],
    T0,
  );
  // Sealed and marked sent (as after a send whose reply died with the process), but the node lost it.
  await r.outbox.seal(db, 10);
  await db.query('UPDATE outbox SET first_sent_at_ms = $1, sent_height = 0', [T0]);
  // Another holder of the same key used nonce 0 meanwhile.
  const { signTx } = await import('../../src/domain/chain-tx.js');
  const other = signTx(MARKET_KEY, {
    tx_type: 'TRANSFER',
    to_address: addressOf(0x7101),
    amount: 5n,
    nonce: 0,
    timestamp: 0,
  });
  expect(await r.chain.submit(other)).toMatchObject({ accepted: true });
  await r.chain.produceBlock();
  const courier = r.courier();
  expect(await courier.flush()).toMatchObject({ checking: 1 });
  expect(await courier.flush()).toMatchObject({ held: 1 });
  const [row] = await db.query<{ status: string; last_error: string }>(
    'SELECT status, last_error FROM outbox',
  );
  expect(row?.status).toBe('held');
  expect(row?.last_error).toMatch(/nonce 0 is used on chain/);
  expect(await reversals()).toBe(0);
  await r.client.close();
  await r.node.close();
  await r.chain.close();
}, 60_000);
