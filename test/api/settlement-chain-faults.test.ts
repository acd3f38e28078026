// Settlement when things go wrong around it, through a running node with real WebSocket workers:
// the chain down for an hour while Real-mode tasks complete and payouts batch, a payout the
// chain refuses for good, a result reported twice with settlement replayed, and a result sent
// for a job leased to another worker. Every case ends the same way: nothing paid twice, nothing
// lost, and the ledger invariant (verifyLedger) holding.

import { expect, it, vi } from 'vitest';
import { DevChain } from '../../src/chain/dev-chain.js';
import {
  ChainError,
  type ChainAccount,
  type ChainBlock,
  type ChainHead,
  type ChainPort,
  type SubmitOutcome,
} from '../../src/chain/port.js';
import type { SignedTx } from '../../src/domain/chain-tx.js';
import { ManualClock } from '../../src/domain/clock.js';
import { tasksOnChain, type OutboxDraft } from '../../src/domain/courier.js';
import { utf8 } from '../../src/domain/hash.js';
import { signMessage } from '../../src/domain/identity.js';
import { SYSTEM_ACCOUNTS } from '../../src/domain/ledger.js';
import { helloMessage, type JobMsg } from '../../src/domain/schemas/worker.js';
import { splitAmount } from '../../src/domain/settlement.js';
import { verifyLedger } from '../../src/market/ledger.js';
import { testDb } from '../helpers/db.js';
import { perTestMarkets, startTestMarket, type TestMarket } from '../helpers/market.js';
import { CPU_CAPABILITY, type ScriptedWorker } from '../helpers/ws-worker.js';

// Each test starts its own market, chain and workers and waits only on messages and ticks it
// drives, never on a clock; on a loaded machine that setup alone takes seconds, so the limit is generous.
vi.setConfig({ testTimeout: 120_000 });

const T0 = 1_800_000_000_000;
const CPC = 10n ** 18n;
/** The provider's 25% of one unit at this price (every task here is one gpuhash slice). */
const shareOf = (pricePerUnit: bigint) => splitAmount(pricePerUnit).worker;

/**
 * The embedded dev chain behind a switch. `down`: every call fails as an unreachable node's
 * would (retryable), and nothing reaches the dev chain. `refused`: TRANSFERs to these
 * recipients are refused for good, as a node refuses a recipient it cannot credit.
 */
class SwitchableChain implements ChainPort {
  down = false;
  readonly refused = new Set<string>();
  submitsWhileDown = 0;

  constructor(readonly dev: DevChain) {}

  async submit(tx: SignedTx): Promise<SubmitOutcome> {
    if (this.down) {
      this.submitsWhileDown++;
      return { accepted: false, retryable: true, error: 'chain unreachable' };
    }
    if (tx.tx_type === 'TRANSFER' && this.refused.has(tx.to_address))
      return { accepted: false, retryable: false, error: `invalid_recipient: ${tx.to_address}` };
    return this.dev.submit(tx);
  }

  async getBlock(height: number): Promise<ChainBlock | undefined> {
    if (this.down) throw new ChainError('chain unreachable', true);
    return this.dev.getBlock(height);
  }

  async head(): Promise<ChainHead> {
    if (this.down) throw new ChainError('chain unreachable', true);
    return this.dev.head();
  }

  async account(address: string): Promise<ChainAccount> {
    if (this.down) throw new ChainError('chain unreachable', true);
    return this.dev.account(address);
  }

  close(): Promise<void> {
    return this.dev.close();
  }
}

const { pool, track } = perTestMarkets();

/**
 * A node on a manual clock with no background loops (the test drives the courier), whose chain
 * is the dev chain behind a switch, settling in Real mode.
 */
async function start(config: Record<string, unknown> = {}) {
  const clock = new ManualClock(T0);
  const db = await testDb();
  const chain = new SwitchableChain(await DevChain.open({ db, clock }));
  const tm = track(await startTestMarket({ db, clock, chain, background: false, config }));
  await rpc(tm, 'settlement.set_mode', { mode: 'Armed', delay_ms: 0 });
  expect((await rpc<{ mode: string }>(tm, 'settlement_status')).mode).toBe('Real');
  return { tm, clock, chain };
}

function rpc<T = Record<string, unknown>>(tm: TestMarket, method: string, params: object = {}): Promise<T> {
  return tm.operator.request<T>('POST', '/rpc', { method, params });
}

type Client = Awaited<ReturnType<TestMarket['customer']>>['client'];

async function gpuhashTask(client: Client, n: number) {
  return client.createTask({
    challenge_type: 'gpuhash',
    payload: { input: Buffer.from(`task ${n} `.repeat(8)).toString('base64') },
    reward: '10.0',
  });
}

let taskCount = 0;

/**
 * Two tasks, one to each provider: the cheap one (one slot) takes the first and is still busy
 * with it when the second is created, so the dear one takes that; then both answer.
 */
async function onePerProvider(client: Client, cheap: ScriptedWorker, dear: ScriptedWorker) {
  const first = await gpuhashTask(client, ++taskCount);
  const job1 = await cheap.next<JobMsg>('job', (m) => m.task_id === first.task_id);
  const second = await gpuhashTask(client, ++taskCount);
  const job2 = await dear.next<JobMsg>('job', (m) => m.task_id === second.task_id);
  cheap.send(cheap.result(job1));
  dear.send(dear.result(job2));
  await cheap.next('result_accepted');
  await dear.next('result_accepted');
  expect((await client.getTask(first.task_id)).status).toBe('completed');
  expect((await client.getTask(second.task_id)).status).toBe('completed');
  return [first.task_id, second.task_id];
}

async function twoProviders() {
  const cheap = pool.make();
  await cheap.join({ slots: 1, price: '1.0' });
  const dear = pool.make();
  await dear.join({ slots: 1, price: '2.0' });
  return { cheap, dear };
}

/** The next `n` answers (result_accepted or error) the market sends this worker about a job. */
function answers(w: ScriptedWorker, jobId: string, n: number): Promise<Record<string, unknown>[]> {
  return new Promise((resolve) => {
    const got: Record<string, unknown>[] = [];
    const listen = (data: unknown) => {
      const m = JSON.parse(String(data)) as Record<string, unknown>;
      if ((m.type !== 'result_accepted' && m.type !== 'error') || m.job_id !== jobId) return;
      got.push(m);
      if (got.length < n) return;
      w.ws.off('message', listen);
      resolve(got);
    };
    w.ws.on('message', listen);
  });
}

async function balanceOf(tm: TestMarket, accountId: string): Promise<bigint> {
  const [row] = await tm.market.db.query<{ amount: string }>(
    `SELECT amount::text AS amount FROM balances WHERE account_id = $1 AND asset = 'CPC'`,
    [accountId],
  );
  return BigInt(row?.amount ?? '0');
}

/** A provider's balance on the books, by its address (0 when it has no account). */
async function providerBalance(tm: TestMarket, address: string): Promise<bigint> {
  const [row] = await tm.market.db.query<{ amount: string }>(
    `SELECT b.amount::text AS amount FROM balances b JOIN accounts a USING (account_id)
     WHERE a.address = $1 AND b.asset = 'CPC'`,
    [address],
  );
  return BigInt(row?.amount ?? '0');
}

async function outboxCounts(tm: TestMarket) {
  return (
    await rpc<{ outbox: { pending: number; sent: number; failed: number } }>(tm, 'compute.courier_status')
  ).outbox;
}

/** What the dev chain received, sealed into a block: results by task, transfers summed by recipient. */
async function chainContents(chain: SwitchableChain) {
  const block = await chain.dev.produceBlock();
  const results: string[] = [];
  const transfers = new Map<string, bigint>();
  for (const tx of block.txs) {
    // A settlement batch of several tasks is one SUBMIT_RESULT listing them all.
    if (tx.tx_type === 'SUBMIT_RESULT') results.push(...tasksOnChain(tx.payload).map((t) => t.task_id));
    else transfers.set(tx.to_address, (transfers.get(tx.to_address) ?? 0n) + tx.amount);
  }
  return { txs: block.txs.length, results: results.sort(), transfers };
}

async function metric(tm: TestMarket, name: string): Promise<number> {
  const text = await (await fetch(`${tm.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1]);
}

async function expectLedgerBalanced(tm: TestMarket) {
  expect((await verifyLedger(tm.market.db)).violations).toEqual([]);
}

it('keeps every result and payout while the chain is down for an hour, backing off no longer than the cap, and delivers each exactly once when it returns', async () => {
  const BASE = 1_000;
  const MAX = 60_000;
  const STEP = 15_000;
  const { tm, clock, chain } = await start({
    courier_backoff_base_ms: BASE,
    courier_backoff_max_ms: MAX,
    payout_interval_ms: 600_000,
  });
  const link = tm.market.chainLink!;
  const failures = { retryable: 0, permanent: 0 };
  tm.market.events.on(
    'courier.failure',
    (e) => void (e.retryable ? failures.retryable++ : failures.permanent++),
  );
  const { cheap, dear } = await twoProviders();
  const { client } = await tm.customer('100.0');

  // The courier reads its next nonce from the node before it seals anything: one round while
  // the chain is up, then it goes down.
  await link.tick();
  chain.down = true;
  const tasks: string[] = [];
  const delays: number[] = [];
  let headAttempts = 0;
  for (let quarter = 0; quarter < 4; quarter++) {
    tasks.push(...(await onePerProvider(client, cheap, dear)));
    // A quarter of an hour of courier rounds (payouts batch every ten minutes of it).
    for (let t = 0; t < 15 * 60_000; t += STEP) {
      clock.advance(STEP);
      await link.tick();
      const [head] = await tm.market.db.query<{ attempts: number; next_attempt_at: string }>(
        `SELECT attempts, next_attempt_at_ms::text AS next_attempt_at FROM outbox
         WHERE status = 'pending' AND nonce IS NOT NULL ORDER BY nonce LIMIT 1`,
      );
      if (head && head.attempts > headAttempts) {
        headAttempts = head.attempts;
        delays.push(Number(head.next_attempt_at) - clock.nowMs());
      }
    }
  }

  // An hour of failed sends: only the head of the queue was tried (later nonces wait behind it),
  // each failure retryable, each retry further off until the cap, never beyond it.
  expect(failures).toEqual({ retryable: chain.submitsWhileDown, permanent: 0 });
  expect(delays).toHaveLength(chain.submitsWhileDown);
  expect(delays.length).toBeGreaterThan(20);
  expect(delays[0]).toBeLessThanOrEqual(BASE);
  for (const d of delays) expect(d).toBeLessThanOrEqual(MAX);
  // Past the doubling, every delay is the capped one (equal jitter: between half and all of it).
  for (const d of delays.slice(-10)) expect(d).toBeGreaterThanOrEqual(MAX / 2);
  const rows = await tm.market.db.query<{
    kind: string;
    status: string;
    attempts: number;
    draft: OutboxDraft;
  }>('SELECT kind, status, attempts, draft FROM outbox ORDER BY nonce');
  // Every task's result is queued, one SUBMIT_RESULT per settlement batch.
  expect(
    rows
      .flatMap((r) =>
        r.draft.type === 'result_batch'
          ? r.draft.tasks.map((t) => t.task_id)
          : r.draft.type === 'task_result'
            ? [r.draft.task_id]
            : [],
      )
      .sort(),
  ).toEqual([...tasks].sort());
  expect(rows.filter((r) => r.kind === 'TRANSFER').length).toBeGreaterThanOrEqual(2);
  expect(rows.every((r) => r.status === 'pending')).toBe(true);
  expect(rows.slice(1).every((r) => r.attempts === 0)).toBe(true);
  expect(await outboxCounts(tm)).toMatchObject({ pending: rows.length, sent: 0, failed: 0 });
  expect(await tm.market.db.query('SELECT 1 FROM chain_txs')).toEqual([]);
  // Every worker share was batched: it left the providers' balances for paid_out.
  expect(await tm.market.db.query('SELECT 1 FROM payouts WHERE batch_id IS NULL')).toEqual([]);
  expect(await providerBalance(tm, cheap.key.address)).toBe(0n);
  expect(await providerBalance(tm, dear.key.address)).toBe(0n);
  await expectLedgerBalanced(tm);

  // The chain is back: the next round once the capped wait is over delivers everything.
  chain.down = false;
  clock.advance(MAX);
  await link.tick();
  expect(await outboxCounts(tm)).toMatchObject({ pending: 0, sent: rows.length, failed: 0 });
  // Each transaction once, at consecutive nonces from 0.
  const sent = await tm.market.db.query<{ nonce: string }>('SELECT nonce::text AS nonce FROM chain_txs');
  expect(sent.map((r) => Number(r.nonce)).sort((a, b) => a - b)).toEqual(rows.map((_, i) => i));
  const onChain = await chainContents(chain);
  expect(onChain.txs).toBe(rows.length);
  expect(onChain.results).toEqual([...tasks].sort());
  expect(onChain.transfers).toEqual(
    new Map([
      [cheap.key.address, 4n * shareOf(1n * CPC)],
      [dear.key.address, 4n * shareOf(2n * CPC)],
    ]),
  );
  // A later round finds nothing left to send.
  clock.advance(MAX);
  await link.tick();
  expect(await tm.market.db.query('SELECT 1 FROM chain_txs')).toHaveLength(rows.length);

  // Charged once per task: 4 × 1.0 + 4 × 2.0 out of 100.
  expect(await client.me()).toMatchObject({ balance: '88.0', escrow: '0.0' });
  expect(await balanceOf(tm, SYSTEM_ACCOUNTS.paid_out)).toBe(4n * shareOf(1n * CPC) + 4n * shareOf(2n * CPC));
  await expectLedgerBalanced(tm);
}, 300_000);

it('refuses at hello a worker whose address could not receive a payout, so it never earns', async () => {
  const { tm } = await start();
  const hello = (w: ScriptedWorker, challenge: string, address: string) => ({
    type: 'hello',
    protocol_version: 1,
    public_key: w.key.publicKey,
    address,
    signature: signMessage(w.key.privateKey, utf8(helloMessage(challenge))),
    capability: CPU_CAPABILITY,
    free_slots: 1,
  });
  const challengeOf = async (w: ScriptedWorker) =>
    (await w.next<{ challenge: string }>('challenge')).challenge;

  // A cpc1… string with a broken checksum: not the address of the key, nor of any key.
  const broken = pool.make();
  const last = broken.key.address.at(-1) === 'q' ? 'p' : 'q';
  broken.send(hello(broken, await challengeOf(broken), broken.key.address.slice(0, -1) + last));
  expect(await broken.closed).toMatchObject({ code: 4001, reason: 'address does not belong to public_key' });
  // The uppercase spelling (valid bech32, but a second spelling of the address) is not taken.
  const shouting = pool.make();
  shouting.send(hello(shouting, await challengeOf(shouting), shouting.key.address.toUpperCase()));
  expect(await shouting.closed).toMatchObject({ code: 4000 });

  expect(tm.market.dispatcher.connected).toBe(0);
  expect(await tm.market.db.query('SELECT 1 FROM accounts WHERE address IS NOT NULL')).toEqual([]);
});

it('gives a payout the chain refuses for good back to the provider, still owed, while the other provider is paid', async () => {
  const { tm, chain } = await start();
  const { cheap, dear } = await twoProviders();
  const { client } = await tm.customer('100.0');
  const tasks = await onePerProvider(client, cheap, dear);
  chain.refused.add(cheap.key.address);

  // Both results: one SUBMIT_RESULT, or two when the tasks were settled in separate batches.
  const resultTxs = (await tm.market.db.query(`SELECT 1 FROM outbox WHERE kind = 'SUBMIT_RESULT'`)).length;
  const flushed = await rpc(tm, 'compute.courier_flush');
  expect(flushed).toMatchObject({
    payout_transfers_queued: 2,
    sent: resultTxs + 1, // the results and the dear provider's transfer
    failed: 1,
    retrying: 0,
    pending: 0,
  });
  const [refused] = await tm.market.db.query<{ id: string; kind: string; last_error: string; to: string }>(
    `SELECT id::text AS id, kind, last_error, draft->>'to' AS to FROM outbox WHERE status = 'failed'`,
  );
  expect(refused).toMatchObject({ kind: 'TRANSFER', to: cheap.key.address });
  expect(refused?.last_error).toMatch(/^invalid_recipient/);
  // The payout journal was reversed: the cheap provider's share is back on its balance.
  const reversal = await tm.market.db.query<{ amount: string }>(
    `SELECT amount::text AS amount FROM ledger_entries WHERE kind = 'payout' AND ref = $1 AND account_id = $2`,
    [`reversed:${refused?.id}`, SYSTEM_ACCOUNTS.paid_out],
  );
  expect(reversal).toEqual([{ amount: (-shareOf(1n * CPC)).toString() }]);
  expect(await providerBalance(tm, cheap.key.address)).toBe(shareOf(1n * CPC));
  expect(await providerBalance(tm, dear.key.address)).toBe(0n);
  expect(await balanceOf(tm, SYSTEM_ACCOUNTS.paid_out)).toBe(shareOf(2n * CPC));

  const onChain = await chainContents(chain);
  expect(onChain.results).toEqual([...tasks].sort());
  expect(onChain.transfers).toEqual(new Map([[dear.key.address, shareOf(2n * CPC)]]));
  // Nothing is sent again, and the money owed stays where it is.
  expect(await rpc(tm, 'compute.courier_flush')).toMatchObject({
    payout_transfers_queued: 0,
    attempted: 0,
    pending: 0,
  });
  expect(await providerBalance(tm, cheap.key.address)).toBe(shareOf(1n * CPC));
  expect(await client.me()).toMatchObject({ balance: '97.0', escrow: '0.0' });
  await expectLedgerBalanced(tm);
});

it('charges once and keeps one receipt when a worker reports its result twice and settlement is replayed', async () => {
  const { tm, chain } = await start();
  const w = pool.make();
  await w.join({ price: '1.0' });
  const { client } = await tm.customer('100.0');
  const task = await gpuhashTask(client, ++taskCount);
  const job = await w.next<JobMsg>('job', (m) => m.task_id === task.task_id);
  const result = w.result(job);
  // The same frame twice, back to back (the second arrives while the first is being committed),
  // and once more after it was.
  const twice = answers(w, job.job_id, 2);
  w.send(result);
  w.send(result);
  expect((await twice)[0]).toMatchObject({ type: 'result_accepted' });
  const again = answers(w, job.job_id, 1);
  w.send(result);
  expect(await again).toEqual([expect.objectContaining({ type: 'error', code: 'duplicate_result' })]);

  const replay = () =>
    tm.market.db.transaction((tx) =>
      tm.market.settlement.settle(tx, [{ taskId: task.task_id, escrowHeld: 0n }]),
    );
  await replay();
  await replay();
  expect(await rpc(tm, 'compute.courier_flush')).toMatchObject({ payout_transfers_queued: 1, failed: 0 });
  await replay(); // after the payout went out, too
  expect(await rpc(tm, 'compute.courier_flush')).toMatchObject({ payout_transfers_queued: 0, attempted: 0 });

  expect(
    await tm.market.db.query('SELECT mode, applied FROM receipts WHERE task_id = $1', [task.task_id]),
  ).toEqual([{ mode: 'Real', applied: true }]);
  expect(await tm.market.db.query('SELECT 1 FROM payouts WHERE task_id = $1', [task.task_id])).toHaveLength(
    1,
  );
  const settlements = await tm.market.db.query(
    `SELECT DISTINCT e.journal_id FROM receipts r JOIN ledger_entries e USING (journal_id)
     WHERE r.task_id = $1 AND e.kind = 'settlement'`,
    [task.task_id],
  );
  expect(settlements).toHaveLength(1);
  expect(await client.me()).toMatchObject({ balance: '99.0', escrow: '0.0' });
  const onChain = await chainContents(chain);
  expect(onChain.results).toEqual([task.task_id]);
  expect(onChain.transfers).toEqual(new Map([[w.key.address, shareOf(1n * CPC)]]));
  expect(await providerBalance(tm, w.key.address)).toBe(0n);
  await expectLedgerBalanced(tm);
});

// Two copies of one job's result in the same group-commit batch: the first is committed and
// accepted, the second answered duplicate_result, and one completion is counted.
it('tells a worker its result frame sent twice in a row was accepted once and refused once, and counts one completion', async () => {
  const { tm } = await start();
  const w = pool.make();
  await w.join({ price: '1.0' });
  const { client } = await tm.customer('100.0');
  const task = await gpuhashTask(client, ++taskCount);
  const job = await w.next<JobMsg>('job', (m) => m.task_id === task.task_id);
  const result = w.result(job);
  w.send(result);
  w.send(result);
  await w.next('result_accepted');
  const second = await Promise.race([w.next('result_accepted'), w.next('error')]);
  expect(second).toMatchObject({ type: 'error', code: 'duplicate_result', job_id: job.job_id });
  expect(
    await tm.market.db.query('SELECT jobs_completed::int AS n FROM providers WHERE address = $1', [
      w.key.address,
    ]),
  ).toEqual([{ n: 1 }]);
  expect(await metric(tm, 'jobs_completed_total')).toBe(1);
});

it('refuses a result for a job leased to another worker and pays that worker nothing; the lessee is paid once', async () => {
  const { tm, chain } = await start();
  const lessee = pool.make();
  await lessee.join({ slots: 1, price: '1.0' });
  const { client } = await tm.customer('100.0');
  const task = await gpuhashTask(client, ++taskCount);
  const job = await lessee.next<JobMsg>('job', (m) => m.task_id === task.task_id);
  const thief = pool.make();
  await thief.join({ slots: 1, price: '1.0' });

  // The thief's own signed answer for the job: not its lease.
  thief.send(thief.result(job));
  expect(await thief.next('error')).toMatchObject({ code: 'not_leased', job_id: job.job_id });
  // The lessee's own frame, replayed by the thief: not its address.
  const honest = lessee.result(job);
  thief.send(honest);
  expect(await thief.next('error')).toMatchObject({ code: 'wrong_worker', job_id: job.job_id });
  expect((await client.getTask(task.task_id)).status).toBe('in_progress');
  expect(await tm.market.db.query('SELECT 1 FROM receipts')).toEqual([]);

  lessee.send(honest);
  await lessee.next('result_accepted');
  // Too late to steal it now, too.
  thief.send(thief.result(job));
  expect(await thief.next('error')).toMatchObject({ code: 'duplicate_result', job_id: job.job_id });
  expect(await client.getTask(task.task_id)).toMatchObject({
    status: 'completed',
    result: { worker_address: lessee.key.address },
  });
  expect(await tm.market.db.query(`SELECT body::jsonb->>'provider' AS provider FROM receipts`)).toEqual([
    { provider: lessee.key.address },
  ]);
  expect(await tm.market.db.query('SELECT address FROM payouts')).toEqual([{ address: lessee.key.address }]);
  expect(await rpc(tm, 'compute.courier_flush')).toMatchObject({ payout_transfers_queued: 1, failed: 0 });
  const onChain = await chainContents(chain);
  expect(onChain.results).toEqual([task.task_id]);
  expect(onChain.transfers).toEqual(new Map([[lessee.key.address, shareOf(1n * CPC)]]));
  expect(await providerBalance(tm, thief.key.address)).toBe(0n);
  expect(await client.me()).toMatchObject({ balance: '99.0', escrow: '0.0' });
  await expectLedgerBalanced(tm);
});
