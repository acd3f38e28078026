// The courier follows each entry to a block (issue #13): sent → included → final after the
// configured confirmations; nonces come from the node (another holder of the key used some);
// an entry the node's pool dropped is sent again, as the same bytes, once past the pool's TTL;
// a payout whose resend is answered nonce_too_low is found in a block, never reversed; and a
// held entry is settled by the operator.

import { beforeEach, expect, it } from 'vitest';
import type { DevChain } from '../../src/chain/dev-chain.js';
import { HttpChainClient } from '../../src/chain/http-client.js';
import type { ChainPort } from '../../src/chain/port.js';
import { signTx, type SignedTx } from '../../src/domain/chain-tx.js';
import type { ManualClock } from '../../src/domain/clock.js';
import type { Db } from '../../src/store/db.js';
import { countOutboxByStatus, insertDrafts, markResend, resolveLanded } from '../../src/store/outbox.js';
import { addressOf, keyOf } from '../chain/fixtures.js';
import { startMockNode, type MockNode } from '../chain/mock-node.js';
import { courierRig, outboxRows, transferRow as transfer, useCourierDb } from '../helpers/courier-rig.js';

const T0 = 1_700_000_000_000;
const KEY = keyOf(0xbeef);
const ctx = useCourierDb(T0);
let db: Db;
let clock: ManualClock;
beforeEach(() => ({ db, clock } = ctx));

function setup(opts: { confirmations?: number; port?: (dev: DevChain) => ChainPort } = {}) {
  // The node keeps pooled transactions longer than the courier waits before it looks.
  return courierRig({
    db,
    clock,
    key: KEY,
    chain: { txTtlMs: 3_600_000 },
    ...(opts.port ? { port: opts.port } : {}),
    courier: { batch: 50, confirmations: opts.confirmations ?? 2, txTtlMs: 600_000 },
  });
}

const rows = () => outboxRows(db);

it('goes sent → included → final after the configured confirmations', async () => {
  const { chain, courier } = await setup({ confirmations: 2 });
  await insertDrafts(db, [transfer(1), transfer(2)], T0);
  expect(await courier.flush()).toMatchObject({ sent: 2, included: 0 });
  expect((await rows()).map((r) => r.status)).toEqual(['sent', 'sent']);
  const block = await chain.produceBlock();
  expect(await courier.flush()).toMatchObject({ included: 2, final: 0 });
  expect((await rows()).map((r) => [r.status, r.height])).toEqual([
    ['included', block.header.height],
    ['included', block.header.height],
  ]);
  await chain.produceBlock();
  expect(await courier.flush()).toMatchObject({ final: 0 });
  await chain.produceBlock();
  expect(await courier.flush()).toMatchObject({ final: 2 });
  expect(await countOutboxByStatus(db)).toMatchObject({ final: 2 });
  await chain.close();
});

it('takes its first nonce from the node when another holder of the key used some', async () => {
  const { chain, courier, outbox } = await setup({ confirmations: 0 });
  for (let n = 0; n < 3; n++)
    await chain.submit(
      signTx(KEY, { tx_type: 'TRANSFER', to_address: addressOf(9), amount: 1n, nonce: n, timestamp: 0 }),
    );
  await chain.produceBlock();
  // Sealed earlier at nonce 0 by this market, never sent: it is sealed again at the node's nonce.
  await insertDrafts(db, [transfer(1)], T0);
  await outbox.seal(db, 10);
  expect((await rows())[0]?.nonce).toBe(0);
  await courier.flush();
  expect((await rows())[0]).toMatchObject({ nonce: 3, status: 'sent' });
  await chain.produceBlock();
  await courier.flush();
  expect((await rows())[0]).toMatchObject({ status: 'final' });
  await chain.close();
});

it("sends an entry the node's pool dropped again, as the same bytes, once past the pool TTL", async () => {
  const { chain, courier } = await setup({ confirmations: 0 });
  await insertDrafts(db, [transfer(1), transfer(2)], T0);
  await courier.flush();
  const [first, second] = await rows();
  // The node lost the first (a restart): the second waits behind the gap.
  expect(await chain.dropPooled(first!.tx_hash)).toBe(true);
  await chain.produceBlock();
  expect(await courier.flush()).toMatchObject({ attempted: 0, included: 0 });
  expect((await rows()).map((r) => r.status)).toEqual(['sent', 'sent']);
  // Past the TTL the courier looks: not in a block, not pooled, nonce free: the same bytes again.
  clock.advance(600_001);
  await courier.flush();
  await chain.produceBlock();
  await courier.flush();
  expect((await rows()).map((r) => [r.status, r.tx_hash])).toEqual([
    ['final', first!.tx_hash],
    ['final', second!.tx_hash],
  ]);
  await chain.close();
});

it('never reverses a payout whose resend is answered nonce_too_low: it is found in a block', async () => {
  // A port whose first head() lags a block behind, so the courier resends before it sees the block.
  let lag = 0;
  const { chain, courier } = await setup({
    confirmations: 0,
    port: (dev) =>
      Object.assign(Object.create(dev) as DevChain, {
        head: async () => {
          const h = await dev.head();
          return lag-- > 0 ? { ...h, height: h.height - 1 } : h;
        },
      }),
  });
  await insertDrafts(db, [transfer(1)], T0);
  await courier.flush();
  await chain.produceBlock();
  // The answer was lost with the process: the entry looks pending again (its write-ahead mark stays).
  await db.query(`UPDATE outbox SET status = 'pending'`);
  lag = 1;
  expect(await courier.flush()).toMatchObject({ attempted: 1, checking: 1, failed: 0 });
  expect(await courier.flush()).toMatchObject({ included: 1, final: 1 });
  const reversed = await db.query(`SELECT 1 FROM ledger_entries WHERE ref LIKE 'reversed:%'`);
  expect(reversed).toEqual([]);
  await chain.close();
});

it('lets the operator settle a held entry: --resend sends the same bytes, --landed makes it final', async () => {
  const { chain, courier, outbox } = await setup({ confirmations: 0 });
  await insertDrafts(db, [transfer(1)], T0);
  await outbox.seal(db, 10);
  await courier.flush(); // nonce read, then sent; the node then loses it…
  const [row] = await rows();
  await chain.dropPooled(row!.tx_hash);
  // …and another holder of the key uses nonce 0.
  await chain.submit(
    signTx(KEY, { tx_type: 'TRANSFER', to_address: addressOf(9), amount: 1n, nonce: 0, timestamp: 0 }),
  );
  await chain.produceBlock();
  clock.advance(600_001);
  expect(await courier.flush()).toMatchObject({ held: 1 });
  const [held] = await db.query<{ id: number; status: string }>('SELECT id::int AS id, status FROM outbox');
  expect(held?.status).toBe('held');
  // --resend: the same bytes (never a new nonce), answered nonce_too_low, held again.
  expect(await markResend(db, held!.id, row!.tx_hash, clock.nowMs(), 'operator')).toBe(1);
  expect(await courier.flush()).toMatchObject({ attempted: 1, checking: 1 });
  expect(await courier.flush()).toMatchObject({ held: 1 });
  expect((await rows())[0]?.tx_hash).toBe(row!.tx_hash);
  // --landed: final, with a note.
  expect(await resolveLanded(db, held!.id, clock.nowMs())).toBe(1);
  const [done] = await db.query<{ status: string; last_error: string }>(
    'SELECT status, last_error FROM outbox',
  );
  expect(done).toMatchObject({
    status: 'final',
    last_error: expect.stringMatching(/^the operator marked it landed/),
  });
  expect(await resolveLanded(db, held!.id, clock.nowMs())).toBe(0);
  await chain.close();
});

it('starts a sender the node has never seen (its /balance answers 404) at nonce 0 and delivers', async () => {
  let node: MockNode | undefined;
  let client: HttpChainClient | undefined;
  const { chain, courier } = await courierRig({
    db,
    clock,
    key: keyOf(0x404),
    port: async (dev) => {
      node = await startMockNode(dev, { db, unknownAccount: 'not_found' });
      client = new HttpChainClient({ baseUrl: node.url, timeoutMs: 60_000 });
      return client;
    },
  });
  await insertDrafts(db, [transfer(1)], T0);
  expect(await courier.flush()).toMatchObject({ sent: 1, failed: 0 });
  const balance = node!.requests.find((q) => q.path.startsWith('/balance/'));
  expect(balance).toBeDefined();
  expect((await rows())[0]).toMatchObject({ nonce: 0, status: 'sent' });
  await chain.produceBlock();
  expect(await courier.flush()).toMatchObject({ included: 1, final: 1 });
  await client!.close();
  await node!.close();
  await chain.close();
});

it('carries a BidTx through the node double: the node takes the zero-amount TRANSFER with its commitment, a block holds it', async () => {
  let node: MockNode | undefined;
  let client: HttpChainClient | undefined;
  const { chain, courier, outbox } = await courierRig({
    db,
    clock,
    key: keyOf(0xb1d),
    port: async (dev) => {
      node = await startMockNode(dev, { db });
      client = new HttpChainClient({ baseUrl: node.url, timeoutMs: 60_000 });
      return client;
    },
  });
  const commitment = 'cd'.repeat(32);
  await db.transaction((tx) => outbox.queueBid(tx, '00000000-0000-4000-8000-000000000001', commitment));
  expect(await courier.flush()).toMatchObject({ sent: 1 });
  const sent = JSON.parse(node!.requests.find((q) => q.path === '/tx/send')!.body) as Record<string, unknown>;
  expect(sent).toMatchObject({ amount: '0', to_address: outbox.sender, payload: { bid_commit: commitment } });
  const block = await chain.produceBlock();
  expect(await courier.flush()).toMatchObject({ included: 1, final: 1 });
  expect((await rows())[0]).toMatchObject({ status: 'final', height: block.header.height });
  await client!.close();
  await node!.close();
  await chain.close();
});

it('fills a nonce gap no entry can fill any more, so the transactions waiting behind it land', async () => {
  // A node that refuses the second TRANSFER as invalid (its bytes), as it would a bad signature.
  const { chain, courier, outbox } = await setup({
    confirmations: 0,
    port: (dev) =>
      Object.assign(Object.create(dev) as DevChain, {
        submit: (tx: SignedTx) =>
          tx.tx_type === 'TRANSFER' && tx.amount === 1002n
            ? Promise.resolve({
                accepted: false as const,
                retryable: false,
                error: 'rejected: invalid_signature',
              })
            : dev.submit(tx),
      }),
  });
  await insertDrafts(db, [transfer(1), transfer(2), transfer(3)], T0);
  await outbox.seal(db, 10);
  // Nonce 2 was sent before (a crash lost the answer): nonce 1 cannot be given to it again.
  await db.query('UPDATE outbox SET first_sent_at_ms = $1, attempts = 1 WHERE nonce = 2', [T0]);
  expect(await courier.flush()).toMatchObject({ sent: 2, failed: 1, gaps_filled: 0 });
  await chain.produceBlock();
  // The node holds nonce 2 queued behind the missing 1: it waits on nonce 1, which nothing fills.
  expect(await chain.account(outbox.sender)).toEqual({ nonce: 1, pendingNonce: 1 });
  expect(await courier.flush()).toMatchObject({ gaps_filled: 1, attempted: 1, sent: 1 });
  const filler = (await rows()).at(-1)!;
  expect(filler).toMatchObject({ nonce: 1, status: 'sent' });
  await chain.produceBlock();
  expect(await courier.flush()).toMatchObject({ gaps_filled: 0 });
  expect(await countOutboxByStatus(db)).toMatchObject({ final: 3, failed: 1, pending: 0 });
  const onChain = await db.query<{ nonce: number; body: string }>(
    'SELECT nonce::int AS nonce, body FROM chain_txs WHERE height IS NOT NULL ORDER BY nonce',
  );
  expect(onChain.map((t) => t.nonce)).toEqual([0, 1, 2]);
  // The filler moves 1 base unit from the market to itself; the refused entry kept its error.
  expect(JSON.parse(onChain[1]!.body)).toMatchObject({
    to_address: outbox.sender,
    from_address: outbox.sender,
    amount: '1',
  });
  const [failed] = await db.query<{ nonce: number | null; last_error: string }>(
    `SELECT nonce, last_error FROM outbox WHERE status = 'failed'`,
  );
  expect(failed?.nonce).toBeNull();
  expect(failed?.last_error).toMatch(/^rejected: invalid_signature; its nonce 1 went to the filler gap:/);
  await chain.close();
});
