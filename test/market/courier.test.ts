// The courier against the embedded dev chain: delivery and compute_root, retries with backoff
// under injected failures, non-retryable refusals (and the nonce they free, on a chain that takes
// nonces in sequence), paging, and the outbox's dedup keys.

import { beforeEach, expect, it } from 'vitest';
import type { DevChain } from '../../src/chain/dev-chain.js';
import { type FailureInjection } from '../../src/chain/dev-chain.js';
import type { ChainAccount, ChainBlock, ChainHead, ChainPort, SubmitOutcome } from '../../src/chain/port.js';
import type { SignedTx } from '../../src/domain/chain-tx.js';
import type { ManualClock } from '../../src/domain/clock.js';
import { computeRoot } from '../../src/domain/merkle.js';
import { MarketEventBus } from '../../src/market/events.js';
import type { Db } from '../../src/store/db.js';
import { countOutboxByStatus, insertDrafts } from '../../src/store/outbox.js';
import { courierRig, useCourierDb } from '../helpers/courier-rig.js';
import { addressOf, keyOf } from '../chain/fixtures.js';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { SYSTEM_ACCOUNTS, transfer } from '../../src/domain/ledger.js';
import { appendJournals } from '../../src/store/ledger.js';
import { insertPayouts } from '../../src/store/payouts.js';
import { providerAccounts } from '../../src/store/settlement.js';

const T0 = 1_700_000_000_000;
const hashOf = (i: number) => i.toString(16).padStart(64, '0');
const ctx = useCourierDb(T0);
let db: Db;
let clock: ManualClock;
let events: MarketEventBus;
let counts: { attempt: number; failure: number; retryable: number };

beforeEach(() => {
  ({ db, clock } = ctx);
  events = new MarketEventBus();
  counts = { attempt: 0, failure: 0, retryable: 0 };
  events.on('courier.attempt', () => counts.attempt++);
  events.on('courier.failure', (e) => {
    counts.failure++;
    if (e.retryable) counts.retryable++;
  });
});

function setup(
  opts: {
    failure?: FailureInjection;
    minGasPrice?: number;
    batch?: number;
    q?: Db;
    /** Puts a port in front of the dev chain (the courier sends through it). */
    wrap?: (dev: DevChain) => ChainPort;
  } = {},
) {
  return courierRig({
    db,
    clock,
    key: keyOf(0xc0ffee),
    chain: {
      ...(opts.failure ? { failure: opts.failure } : {}),
      ...(opts.minGasPrice ? { minGasPrice: opts.minGasPrice } : {}),
    },
    ...(opts.wrap ? { port: opts.wrap } : {}),
    courier: { events, db: opts.q ?? db, batch: opts.batch ?? 100 },
  });
}

it('queues a bundle receipt once, delivers it, and the block compute_root holds its result', async () => {
  const { chain, outbox, courier } = await setup();
  const first = await outbox.queueBundle(db, hashOf(1), 'alice');
  const again = await outbox.queueBundle(db, hashOf(1), 'alice');
  expect(again.id).toBe(first.id);
  // Queued as a draft: no nonce, no signature until the courier seals it.
  expect(first).toMatchObject({ kind: 'SUBMIT_RESULT', status: 'pending', nonce: null, tx_hash: null });
  await outbox.queueBundle(db, hashOf(2), 'alice');

  expect(await courier.flush()).toMatchObject({
    attempted: 2,
    sent: 2,
    retrying: 0,
    failed: 0,
    stopped: false,
  });
  expect(await countOutboxByStatus(db)).toMatchObject({ pending: 0, sent: 2, failed: 0 });
  const sealed = await db.query<{ nonce: string; tx_hash: string }>(
    'SELECT nonce::text AS nonce, tx_hash FROM outbox ORDER BY id',
  );
  expect(sealed.map((r) => r.nonce)).toEqual(['0', '1']);
  clock.advance(10_000);
  const block = await chain.produceBlock();
  const results = block.txs.flatMap((tx) => (tx.tx_type === 'SUBMIT_RESULT' ? [tx.payload] : []));
  expect(results.map((r) => r.result_hash)).toEqual([hashOf(1), hashOf(2)]);
  // The node includes a result only from its worker: the market is the worker of record, and the
  // proof names who carried the bundle.
  expect(results[0]).toMatchObject({
    task_id: `bundle:${hashOf(1)}`,
    worker_address: outbox.sender,
    proof: `carrier=alice;bundle=${hashOf(1)}`,
    nonce: 0,
  });
  expect(block.header.compute_root).toBe(computeRoot(results));
  // Nothing is pending, so a second flush sends nothing.
  expect((await courier.flush()).attempted).toBe(0);
  await chain.close();
});

it('backs off exponentially on retryable failures and delivers in nonce order once the chain is back', async () => {
  const down = await setup({ failure: { rate: 1 } });
  for (let i = 1; i <= 3; i++) await down.outbox.queueBundle(db, hashOf(i), 'bob');
  const expectRow = async (attempts: number, nextAt: number) => {
    const [row] = await db.query<{ attempts: number; next_attempt_at: string; last_error: string }>(
      'SELECT attempts, next_attempt_at_ms::text AS next_attempt_at, last_error FROM outbox ORDER BY id LIMIT 1',
    );
    expect(row).toEqual({ attempts, next_attempt_at: String(nextAt), last_error: 'injected failure' });
  };
  // The head of the queue fails; later nonces wait behind it.
  expect(await down.courier.flush()).toMatchObject({ attempted: 1, retrying: 1, stopped: true });
  await expectRow(1, T0 + 1000);
  expect(await down.courier.flush()).toMatchObject({ attempted: 0, stopped: true }); // not due yet
  for (const [attempt, delay] of [
    [2, 2000],
    [3, 4000],
    [4, 8000],
    [5, 8000], // capped at backoff max
  ] as const) {
    clock.set(
      Number(
        (
          await db.query<{ t: string }>(
            'SELECT next_attempt_at_ms::text AS t FROM outbox ORDER BY id LIMIT 1',
          )
        )[0]!.t,
      ),
    );
    expect(await down.courier.flush()).toMatchObject({ attempted: 1, retrying: 1 });
    await expectRow(attempt, clock.nowMs() + delay);
  }
  expect(counts).toEqual({ attempt: 5, failure: 5, retryable: 5 });
  await down.chain.close();

  const up = await setup();
  clock.advance(60_000);
  expect(await up.courier.flush()).toMatchObject({ attempted: 3, sent: 3, stopped: false });
  const sent = await db.query<{ nonce: string }>('SELECT nonce::text AS nonce FROM chain_txs ORDER BY seq');
  expect(sent.map((r) => r.nonce)).toEqual(['0', '1', '2']);
  await up.chain.close();
});

it('delivers everything exactly once through a chain failing 30% of calls (some replies lost)', async () => {
  const { chain, outbox, courier } = await setup({ failure: { rate: 0.3, lostReplyShare: 0.5, seed: 7 } });
  for (let i = 1; i <= 40; i++) await outbox.queueBundle(db, hashOf(i), 'carol');
  for (let round = 0; round < 500 && (await countOutboxByStatus(db)).pending > 0; round++) {
    await courier.flush();
    clock.advance(10_000);
  }
  expect(await countOutboxByStatus(db)).toMatchObject({ pending: 0, sent: 40, failed: 0 });
  expect(chain.stats.injectedFailures).toBeGreaterThan(0);
  expect(chain.stats.duplicates).toBeGreaterThan(0); // lost replies came back as duplicates: accepted
  expect(counts.failure).toBe(chain.stats.injectedFailures);
  expect(counts.attempt).toBe(40 + counts.failure);
  const [{ n }] = (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM chain_txs')) as [
    { n: number },
  ];
  expect(n).toBe(40);
  await chain.close();
});

it('marks a transaction the chain refuses for good as failed, keeps the error, and goes on', async () => {
  // A chain whose minimum gas price is above the market's: every transaction is refused.
  const { chain, outbox, courier } = await setup({ minGasPrice: 10_000 });
  await outbox.queueBundle(db, hashOf(1), 'dave');
  await outbox.queueBundle(db, hashOf(2), 'dave');
  expect(await courier.flush()).toMatchObject({ attempted: 2, failed: 2, sent: 0, stopped: false });
  const rows = await db.query<{ status: string; attempts: number; last_error: string }>(
    'SELECT status, attempts, last_error FROM outbox ORDER BY id',
  );
  expect(rows).toHaveLength(2);
  for (const r of rows) {
    expect(r).toMatchObject({ status: 'failed', attempts: 1 });
    expect(r.last_error).toMatch(/^gas_too_low/);
  }
  expect(counts).toEqual({ attempt: 2, failure: 2, retryable: 0 });
  expect((await courier.flush()).attempted).toBe(0);
  await chain.close();
});

it('flushes a long queue a page at a time', async () => {
  const pages: number[] = [];
  const counting: Db = {
    ...db,
    query: (sql, params) => {
      if (sql.includes('(sender, nonce) > ($1, $2)')) pages.push(Number(params?.[1]));
      return db.query(sql, params);
    },
  };
  const { chain, outbox, courier } = await setup({ batch: 4, q: counting });
  for (let i = 1; i <= 10; i++) await outbox.queueBundle(db, hashOf(i), 'erin');
  expect(await courier.flush()).toMatchObject({ attempted: 10, sent: 10 });
  // Keyset paging: each page starts after the last nonce of the one before; the short page ends it.
  expect(pages).toEqual([-1, 3, 7]);
  expect(await countOutboxByStatus(db)).toMatchObject({ pending: 0, sent: 10, failed: 0 });
  await chain.close();
});

it('seals drafts in queue order without gaps; a draft that cannot be signed fails without a nonce', async () => {
  const { chain, outbox, courier } = await setup();
  await outbox.queueBundle(db, hashOf(1), 'frank');
  await insertDrafts(
    db,
    [{ kind: 'TRANSFER', dedup_key: 'payout:bad:0', draft: { type: 'transfer', to: 'nope', amount: '1' } }],
    T0,
  );
  await outbox.queueBundle(db, hashOf(2), 'frank');
  expect(await courier.flush()).toMatchObject({ attempted: 2, sent: 2, failed: 0 });
  const rows = await db.query<{
    dedup_key: string;
    nonce: string | null;
    status: string;
    last_error: string | null;
  }>('SELECT dedup_key, nonce::text AS nonce, status, last_error FROM outbox ORDER BY id');
  expect(rows.map((r) => [r.nonce, r.status])).toEqual([
    ['0', 'sent'],
    [null, 'failed'],
    ['1', 'sent'],
  ]);
  expect(rows[1]?.last_error).toMatch(/^cannot sign: TRANSFER: to_address/);
  await chain.close();
});

it('seals a long page in slices: the event loop gets turns while it signs, nonces stay in order', async () => {
  const { chain, outbox } = await setup();
  const n = 150;
  await insertDrafts(
    db,
    Array.from({ length: n }, (_, i) => ({
      kind: 'SUBMIT_RESULT' as const,
      dedup_key: `bundle:${hashOf(i)}:slices`,
      draft: { type: 'bundle' as const, bundle_hash: hashOf(i), sender: 'slices' },
    })),
    T0,
  );
  // The longest the loop went without a turn while the page was being sealed.
  let last = performance.now();
  let longest = 0;
  let ticking = true;
  const tick = () => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  const start = performance.now();
  expect(await outbox.seal(db, n)).toBe(n);
  tick(); // the gap up to now
  const took = performance.now() - start;
  ticking = false;
  // 300 signatures take far longer than a slice (10 ms); unsliced, one gap would be nearly all of it
  // (PGlite's queries give the loop no turn, so the gaps left are theirs and the slices').
  expect(longest).toBeLessThan(took / 2);
  const rows = await db.query<{ nonce: string }>('SELECT nonce::text AS nonce FROM outbox ORDER BY id');
  expect(rows.map((r) => Number(r.nonce))).toEqual(Array.from({ length: n }, (_, i) => i));
  await chain.close();
});

it('makes the market chain key once, owner-only, and reads the same key back', async () => {
  const { mkdtempSync, rmSync, statSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { chainKeyPath, ensureChainKey } = await import('../../src/market/chain-key.js');
  const dir = mkdtempSync(join(tmpdir(), 'chain-key-'));
  try {
    const key = ensureChainKey(join(dir, 'data'), clock);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(chainKeyPath(join(dir, 'data'))).mode & 0o777).toBe(0o600);
    expect(ensureChainKey(join(dir, 'data'), clock)).toBe(key);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('gives a refused TRANSFER back to the provider: the payout journal is reversed', async () => {
  const { chain, courier } = await setup({ minGasPrice: 10_000 });
  const to = addressOf(0x77);
  const account = (await providerAccounts(db, [to], 'CPC', 0)).get(to) as string;
  const five = 5n * 10n ** 18n;
  // The provider earned 5 CPC and a payout flush moved them to paid_out with this TRANSFER.
  await appendJournals(
    db,
    [
      {
        journalId: randomUUID(),
        kind: 'fund',
        ref: null,
        postings: transfer(SYSTEM_ACCOUNTS.external, account, 'CPC', five),
      },
      {
        journalId: randomUUID(),
        kind: 'payout',
        ref: null,
        postings: transfer(account, SYSTEM_ACCOUNTS.paid_out, 'CPC', five),
      },
    ],
    0,
  );
  await insertDrafts(
    db,
    [
      {
        kind: 'TRANSFER',
        dedup_key: 'payout:refused:0',
        draft: { type: 'transfer', to, amount: five.toString() },
      },
    ],
    T0,
  );
  const paidOutBefore = await balanceOf(SYSTEM_ACCOUNTS.paid_out);
  expect(await courier.flush()).toMatchObject({ failed: 1 });
  expect(await balanceOf(account)).toBe(five);
  expect(paidOutBefore - (await balanceOf(SYSTEM_ACCOUNTS.paid_out))).toBe(five);
  await chain.close();
});

async function balanceOf(accountId: string): Promise<bigint> {
  const [row] = await db.query<{ amount: string }>(
    `SELECT amount::text FROM balances WHERE account_id = $1 AND asset = 'CPC'`,
    [accountId],
  );
  return BigInt(row?.amount ?? '0');
}

it('pays out many payouts as one TRANSFER per provider, summed in full, and claims each payout once', async () => {
  await db.query('TRUNCATE payouts');
  const { outbox } = await setup();
  const providers = [addressOf(0x81), addressOf(0x82), addressOf(0x83)];
  const bad = 'cpc1notanaddress';
  const rows = Array.from({ length: 1200 }, (_, i) => ({
    receipt_key: hashOf(i),
    task_id: randomUUID(),
    address: i === 7 ? bad : (providers[i % 3] as string),
    asset: 'CPC',
    amount: String(1000 + i),
  }));
  await insertPayouts(db, rows, 0);
  // Each provider's earnings start in its account, as settlement leaves them.
  const owed = new Map<string, bigint>();
  for (const r of rows) owed.set(r.address, (owed.get(r.address) ?? 0n) + BigInt(r.amount));
  const accounts = await providerAccounts(db, providers, 'CPC', 0);
  await appendJournals(
    db,
    providers.map((p) => ({
      journalId: randomUUID(),
      kind: 'fund' as const,
      ref: null,
      postings: transfer(SYSTEM_ACCOUNTS.external, accounts.get(p) as string, 'CPC', owed.get(p) as bigint),
    })),
    0,
  );

  expect(await outbox.flushPayouts(db, 100_000)).toEqual({ claimed: 1200, transfers: 3 });
  const drafts = await db.query<{ draft: { to: string; amount: string } }>(
    `SELECT draft FROM outbox WHERE kind = 'TRANSFER' ORDER BY id`,
  );
  expect(new Map(drafts.map((d) => [d.draft.to, BigInt(d.draft.amount)]))).toEqual(
    new Map(providers.map((p) => [p, owed.get(p)])),
  );
  // The invalid address is claimed with the rest (not retried every flush) and paid nothing.
  expect(await outbox.flushPayouts(db, 100_000)).toEqual({ claimed: 0, transfers: 0 });
  const [left] = await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM payouts WHERE batch_id IS NULL',
  );
  expect(left?.n).toBe(0);
});

/**
 * The dev chain as the CPC node takes a sender's nonces: only the next one (the dev chain itself
 * takes them in any order), a copy of a transaction it has as a duplicate; and a refusal for
 * good of the transactions `refuse` names (its error), as a node refuses an invalid one.
 */
class SequencedChain implements ChainPort {
  constructor(
    readonly dev: DevChain,
    private readonly refuse: (tx: SignedTx) => string | undefined,
    private readonly sequenced = true,
  ) {}

  async submit(tx: SignedTx): Promise<SubmitOutcome> {
    const [row] = await db.query<{ next: number }>(
      'SELECT count(*)::int AS next FROM chain_txs WHERE sender = $1',
      [tx.from_address],
    );
    const next = row?.next ?? 0;
    if (this.sequenced && tx.nonce > next)
      return { accepted: false, retryable: false, error: `nonce_gap: expected ${next}, got ${tx.nonce}` };
    const refused = this.refuse(tx);
    if (refused) return { accepted: false, retryable: false, error: refused };
    return this.dev.submit(tx);
  }

  getBlock(height: number): Promise<ChainBlock | undefined> {
    return this.dev.getBlock(height);
  }

  account(address: string): Promise<ChainAccount> {
    return this.dev.account(address);
  }

  head(): Promise<ChainHead> {
    return this.dev.head();
  }

  close(): Promise<void> {
    return this.dev.close();
  }
}

const refuseResult = (hash: string) => (tx: SignedTx) =>
  tx.tx_type === 'SUBMIT_RESULT' && tx.payload.result_hash === hash ? 'invalid_result: refused' : undefined;

async function outboxRows() {
  return db.query<{
    id: number;
    status: string;
    nonce: number | null;
    tx_hash: string | null;
    attempts: number;
    last_error: string | null;
  }>(
    'SELECT id::int AS id, status, nonce::int AS nonce, tx_hash, attempts, last_error FROM outbox ORDER BY id',
  );
}

async function chainNonces(): Promise<number[]> {
  const rows = await db.query<{ nonce: number }>('SELECT nonce::int AS nonce FROM chain_txs ORDER BY nonce');
  return rows.map((r) => r.nonce);
}

it('gives the nonce of a transaction refused for good to the later ones: no gap on a chain taking nonces in sequence', async () => {
  const { chain, outbox, courier } = await setup({
    wrap: (dev) => new SequencedChain(dev, refuseResult(hashOf(3))),
  });
  for (let i = 1; i <= 5; i++) await outbox.queueBundle(db, hashOf(i), 'gina');
  expect(await outbox.seal(db, 100)).toBe(5);
  const sealed = await outboxRows();
  expect(sealed.map((r) => r.nonce)).toEqual([0, 1, 2, 3, 4]);

  expect(await courier.flush()).toMatchObject({
    attempted: 5, // 0, 1, the refused 2, then the last two once each at their new nonces
    sent: 4,
    retrying: 0,
    failed: 1,
    stopped: false,
  });
  const rows = await outboxRows();
  expect(rows.map((r) => [r.status, r.nonce])).toEqual([
    ['sent', 0],
    ['sent', 1],
    ['failed', null],
    ['sent', 2],
    ['sent', 3],
  ]);
  // The refused entry keeps its error, and its nonce and tx hash for the operator.
  expect(rows[2]).toMatchObject({ attempts: 1 });
  expect(rows[2]?.last_error).toBe(
    `invalid_result: refused (refused at nonce 2, tx ${sealed[2]?.tx_hash}; the nonce went to the next entry)`,
  );
  // Sealed again: new signatures, never the bytes first sealed at 3 and 4.
  expect(rows[3]?.tx_hash).not.toBe(sealed[3]?.tx_hash);
  expect(rows[4]?.tx_hash).not.toBe(sealed[4]?.tx_hash);
  expect(rows.slice(3).map((r) => r.attempts)).toEqual([0, 0]);
  expect(await chainNonces()).toEqual([0, 1, 2, 3]);
  expect(counts).toEqual({ attempt: 5, failure: 1, retryable: 0 });

  // The block holds the four results, each ComputeResult at its transaction's new nonce.
  clock.advance(10_000);
  const block = await chain.produceBlock();
  const results = block.txs.flatMap((tx) => (tx.tx_type === 'SUBMIT_RESULT' ? [tx.payload] : []));
  expect(results.map((r) => [r.result_hash, r.nonce])).toEqual([
    [hashOf(1), 0],
    [hashOf(2), 1],
    [hashOf(4), 2],
    [hashOf(5), 3],
  ]);
  // The sequence goes on from there.
  await outbox.queueBundle(db, hashOf(6), 'gina');
  expect(await courier.flush()).toMatchObject({ attempted: 1, sent: 1, failed: 0 });
  expect(await chainNonces()).toEqual([0, 1, 2, 3, 4]);
  await chain.close();
});

it('gives a refused TRANSFER in the middle of the queue back to its provider, and the later entries are delivered', async () => {
  const refusedTo = addressOf(0x91);
  const paidTo = addressOf(0x92);
  const { chain, outbox, courier } = await setup({
    wrap: (dev) =>
      new SequencedChain(dev, (tx) =>
        tx.tx_type === 'TRANSFER' && tx.to_address === refusedTo
          ? `invalid_recipient: ${refusedTo}`
          : undefined,
      ),
  });
  const five = 5n * 10n ** 18n;
  const accounts = await providerAccounts(db, [refusedTo, paidTo], 'CPC', 0);
  // Each provider earned 5 CPC and a payout flush moved them to paid_out with a TRANSFER.
  await appendJournals(
    db,
    [refusedTo, paidTo].flatMap((to) => [
      {
        journalId: randomUUID(),
        kind: 'fund' as const,
        ref: null,
        postings: transfer(SYSTEM_ACCOUNTS.external, accounts.get(to) as string, 'CPC', five),
      },
      {
        journalId: randomUUID(),
        kind: 'payout' as const,
        ref: null,
        postings: transfer(accounts.get(to) as string, SYSTEM_ACCOUNTS.paid_out, 'CPC', five),
      },
    ]),
    0,
  );
  const transferDraft = (to: string) => ({ type: 'transfer' as const, to, amount: five.toString() });
  await outbox.queueBundle(db, hashOf(1), 'hank');
  await insertDrafts(
    db,
    [{ kind: 'TRANSFER', dedup_key: 'payout:mid:0', draft: transferDraft(refusedTo) }],
    T0,
  );
  await outbox.queueBundle(db, hashOf(2), 'hank');
  await insertDrafts(db, [{ kind: 'TRANSFER', dedup_key: 'payout:mid:1', draft: transferDraft(paidTo) }], T0);
  const paidOutBefore = await balanceOf(SYSTEM_ACCOUNTS.paid_out);

  expect(await courier.flush()).toMatchObject({ attempted: 4, sent: 3, failed: 1, stopped: false });
  const rows = await outboxRows();
  expect(rows.map((r) => [r.status, r.nonce])).toEqual([
    ['sent', 0],
    ['failed', null],
    ['sent', 1],
    ['sent', 2],
  ]);
  expect(rows[1]?.last_error).toMatch(/^invalid_recipient: .* \(refused at nonce 1, tx [0-9a-f]{64}; /);
  // The refused provider has its money back; the other one was paid.
  expect(await balanceOf(accounts.get(refusedTo) as string)).toBe(five);
  expect(await balanceOf(accounts.get(paidTo) as string)).toBe(0n);
  expect(paidOutBefore - (await balanceOf(SYSTEM_ACCOUNTS.paid_out))).toBe(five);
  // One reversing journal, for the refused entry (outbox ids restart in each test, so by account).
  const reversal = () =>
    db.query<{ ref: string; amount: string }>(
      `SELECT ref, amount::text AS amount FROM ledger_entries
       WHERE kind = 'payout' AND ref LIKE 'reversed:%' AND account_id = $1`,
      [accounts.get(refusedTo)],
    );
  const reversed = [{ ref: `reversed:${rows[1]?.id}`, amount: five.toString() }];
  expect(await reversal()).toEqual(reversed);
  expect(await chainNonces()).toEqual([0, 1, 2]);
  const onChain = await db.query<{ tx_type: string; nonce: number }>(
    'SELECT tx_type, nonce::int AS nonce FROM chain_txs ORDER BY nonce',
  );
  expect(onChain.map((r) => r.tx_type)).toEqual(['SUBMIT_RESULT', 'SUBMIT_RESULT', 'TRANSFER']);
  // Nothing is sent again and nothing is reversed twice.
  expect((await courier.flush()).attempted).toBe(0);
  expect(await reversal()).toEqual(reversed);
  await chain.close();
});

it('frees no nonce when a later entry of the sender was sent already: the refused one keeps its seal', async () => {
  // A chain that takes nonces in any order (as the dev chain does), so the later entry can land.
  const { chain, outbox, courier } = await setup({
    wrap: (dev) => new SequencedChain(dev, refuseResult(hashOf(2)), false),
  });
  for (let i = 1; i <= 3; i++) await outbox.queueBundle(db, hashOf(i), 'ivan');
  expect(await outbox.seal(db, 100)).toBe(3);
  // Nonce 2 was tried before (as after a crash that lost nonce 1's acknowledgement): the chain
  // may hold it, so giving nonce 1 to it again could send it twice.
  await db.query('UPDATE outbox SET attempts = 1, first_sent_at_ms = 0 WHERE nonce = 2');
  const sealed = await outboxRows();

  expect(await courier.flush()).toMatchObject({ attempted: 3, sent: 2, failed: 1 });
  const rows = await outboxRows();
  expect(rows.map((r) => [r.status, r.nonce, r.tx_hash])).toEqual([
    ['sent', 0, sealed[0]?.tx_hash],
    ['failed', 1, sealed[1]?.tx_hash],
    ['sent', 2, sealed[2]?.tx_hash],
  ]);
  expect(rows[1]?.last_error).toBe('invalid_result: refused');
  const [nonces] = await db.query<{ next_nonce: number }>(
    'SELECT next_nonce::int AS next_nonce FROM chain_nonces',
  );
  expect(nonces?.next_nonce).toBe(3);
  await chain.close();
});
