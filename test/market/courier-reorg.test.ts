// Reorganisations (issue #13): the node double drops blocks that the outbox had as included, and
// the courier notices (the next block's prev_hash or the head no longer matches the blocks it
// read), goes back to the fork and settles every entry again: found in the new blocks when the
// node re-pooled them, sent again as the same bytes when it lost them. Nothing is paid twice and
// nothing is lost: each TRANSFER lands once and the recipients' balances on the node are exact.

import { beforeEach, expect, it } from 'vitest';
import { HttpChainClient } from '../../src/chain/http-client.js';
import type { ManualClock } from '../../src/domain/clock.js';
import { SigningKey } from '../../src/domain/signing-key.js';
import type { Db } from '../../src/store/db.js';
import { countOutboxByStatus, insertDrafts } from '../../src/store/outbox.js';
import { addressOf, keyOf } from '../chain/fixtures.js';
import { balanceOf, startMockNode, type MockNode } from '../chain/mock-node.js';
import { courierRig, outboxRows, transferRow, useCourierDb } from '../helpers/courier-rig.js';

const T0 = 1_796_338_083_000;
const KEY = keyOf(0x0e0e);
const ctx = useCourierDb(T0);
let db: Db;
let clock: ManualClock;
beforeEach(() => ({ db, clock } = ctx));

async function rig(confirmations: number) {
  const genesis = new Map([[new SigningKey(KEY).address, 10n ** 24n]]);
  let node: MockNode | undefined;
  let client: HttpChainClient | undefined;
  const r = await courierRig({
    db,
    clock,
    key: KEY,
    chain: { blockIntervalMs: 1000 },
    port: async (dev) => {
      node = await startMockNode(dev, { genesis, db });
      client = new HttpChainClient({ baseUrl: node.url, timeoutMs: 60_000 });
      return client;
    },
    courier: { confirmations, txTtlMs: 3_600_000 },
  });
  const block = () => {
    clock.advance(1000);
    return r.chain.produceBlock();
  };
  const close = async () => {
    await client!.close();
    await node!.close();
    await r.chain.close();
  };
  return { ...r, node: node as MockNode, genesis, block, close };
}

/** The sender's transactions in blocks, by nonce. */
const landed = (sender: string) =>
  db.query<{ tx_hash: string; nonce: number }>(
    'SELECT tx_hash, nonce::int AS nonce FROM chain_txs WHERE sender = $1 AND height IS NOT NULL ORDER BY nonce',
    [sender],
  );

const sends = (node: MockNode) => node.requests.filter((q) => q.path === '/tx/send').length;

async function untilFinal(r: Awaited<ReturnType<typeof rig>>, n: number) {
  for (let i = 0; i < 20; i++) {
    await r.courier.flush();
    if ((await countOutboxByStatus(db)).final === n) return;
    await r.block();
  }
  throw new Error(`not final: ${JSON.stringify(await countOutboxByStatus(db))}`);
}

it('sends again, as the same bytes, entries whose block the node dropped and lost; each lands once', async () => {
  const r = await rig(2);
  await insertDrafts(db, [transferRow(1), transferRow(2), transferRow(3)], T0);
  await r.courier.flush();
  const first = await r.block();
  await r.courier.flush();
  const included = await outboxRows(db);
  expect(included.map((x) => [x.status, x.height])).toEqual(Array(3).fill(['included', first.header.height]));
  // The node switches forks: the block is gone with its transactions, and another takes its height.
  expect(await r.node.dropBlocks(first.header.height, { requeue: false })).toBe(3);
  const other = await r.block();
  expect(other.header.height).toBe(first.header.height);
  expect(other.hash).not.toBe(first.hash);
  const before = sends(r.node);
  expect(await r.courier.flush()).toMatchObject({ reorged: 3, failed: 0, held: 0 });
  // Proven absent with their nonces free: the same bytes again, at once.
  expect(sends(r.node) - before).toBe(3);
  await untilFinal(r, 3);
  const txs = await landed(r.outbox.sender);
  expect(txs.map((t) => t.nonce)).toEqual([0, 1, 2]);
  expect(txs.map((t) => t.tx_hash)).toEqual(included.map((x) => x.tx_hash));
  for (let n = 1; n <= 3; n++)
    expect(await balanceOf(db, r.genesis, addressOf(0x500 + n), false)).toBe(BigInt(1000 + n));
  await r.close();
});

it('finds again, without sending, entries the node put back in its pool and a new block holds', async () => {
  const r = await rig(2);
  await insertDrafts(db, [transferRow(1), transferRow(2)], T0);
  await r.courier.flush();
  const first = await r.block();
  await r.block(); // one block on top: still not final at 2 confirmations
  await r.courier.flush();
  expect((await countOutboxByStatus(db)).included).toBe(2);
  // A fork two blocks deep; the node re-pools the transactions and the new block at the same
  // height (a later second, so another hash) holds them again.
  await r.node.dropBlocks(first.header.height, { requeue: true });
  const again = await r.block();
  expect(again.header.height).toBe(first.header.height);
  expect(again.hash).not.toBe(first.hash);
  expect(again.txs).toHaveLength(2);
  const before = sends(r.node);
  expect(await r.courier.flush()).toMatchObject({ reorged: 2, included: 2, attempted: 0 });
  expect(sends(r.node)).toBe(before);
  expect((await outboxRows(db)).map((x) => [x.status, x.height])).toEqual(
    Array(2).fill(['included', again.header.height]),
  );
  await untilFinal(r, 2);
  expect((await landed(r.outbox.sender)).map((t) => t.nonce)).toEqual([0, 1]);
  for (let n = 1; n <= 2; n++)
    expect(await balanceOf(db, r.genesis, addressOf(0x500 + n), false)).toBe(BigInt(1000 + n));
  await r.close();
});

it('notices a chain that got shorter than what it read, and a reorganisation under final entries', async () => {
  const r = await rig(0);
  await insertDrafts(db, [transferRow(1)], T0);
  await r.courier.flush();
  const first = await r.block();
  await r.block();
  await r.block();
  await r.courier.flush();
  expect((await outboxRows(db))[0]).toMatchObject({ status: 'final', height: first.header.height });
  // Deeper than chain_confirmations (0 here): the node drops three blocks and has none on top yet.
  await r.node.dropBlocks(first.header.height, { requeue: false });
  expect(await r.courier.flush()).toMatchObject({ reorged: 1, attempted: 1, sent: 1 });
  await untilFinal(r, 1);
  expect(await landed(r.outbox.sender)).toHaveLength(1);
  expect(await balanceOf(db, r.genesis, addressOf(0x501), false)).toBe(1001n);
  await r.close();
});
