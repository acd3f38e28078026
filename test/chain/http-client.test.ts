import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DevChain } from '../../src/chain/dev-chain.js';
import { HttpChainClient } from '../../src/chain/http-client.js';
import { ChainError } from '../../src/chain/port.js';
import { signTx, txHash } from '../../src/domain/chain-tx.js';
import { ManualClock } from '../../src/domain/clock.js';
import { computeRoot } from '../../src/domain/merkle.js';
import type { Db } from '../../src/store/db.js';
import { addressOf, devChainDb, keyOf, resultOf, submitResultTx, transferTx } from './fixtures.js';
import { send, startMockNode, type MockNode } from './mock-node.js';

describe('CPC node HTTP client', () => {
  let db: Db;
  let chain: DevChain;
  let node: MockNode;
  let client: HttpChainClient;
  let nonce = 0;

  beforeAll(async () => {
    db = await devChainDb();
    // Results crediting other workers (resultOf) are included: this file is about the wire.
    chain = await DevChain.open({
      db,
      clock: new ManualClock(1_700_000_000_000),
      requireWorkerIsSender: false,
    });
    node = await startMockNode(chain);
  });
  afterAll(async () => {
    await client.close();
    await node.close();
    await chain.close();
    await db.close();
  });
  beforeEach(() => {
    node.overrides.length = 0;
    // Generous: a loaded machine answers slowly; the time-out test has a client of its own.
    client = new HttpChainClient({ baseUrl: `${node.url}/`, timeoutMs: 30_000 });
  });

  it('posts the signed transaction to /tx/send and reports its hash', async () => {
    const tx = transferTx(nonce++);
    expect(await client.submit(tx)).toEqual({ accepted: true, txHash: txHash(tx) });
    const req = node.requests.at(-1)!;
    expect(req).toMatchObject({ method: 'POST', path: '/tx/send' });
    expect(JSON.parse(req.body)).toMatchObject({
      tx_type: 'TRANSFER',
      amount: '25000000000000000000',
      nonce: tx.nonce,
    });
  });

  it('takes the node refusing a copy (already_in_pool) as an idempotent success', async () => {
    const tx = transferTx(nonce++);
    await client.submit(tx);
    expect(await client.submit(tx)).toEqual({ accepted: true, txHash: txHash(tx), duplicate: true });
  });

  it('maps the node rejections: retry when it is busy, not when the tx is wrong', async () => {
    const tx = transferTx(nonce++);
    expect(await client.submit({ ...tx, amount: 1n })).toEqual({
      accepted: false,
      retryable: false,
      error: 'rejected: invalid_signature',
    });
    for (const [reason, retryable] of [
      ['mempool_full', true],
      ['sender_limit_exceeded', true],
      ['queued_limit_exceeded', true],
      ['fee 1 < needed_fee 21000000', false],
    ] as const) {
      node.overrides.push((_req, res) =>
        send(res, 200, JSON.stringify({ tx_hash: 'x', status: 'rejected', error: reason })),
      );
      expect(await client.submit(tx)).toEqual({ accepted: false, retryable, error: `rejected: ${reason}` });
    }
    // What the node answers a transaction a block already holds (smoke-transcript.json): never
    // a refusal to act on, a sign to look in the blocks.
    for (const reason of ['nonce_too_low', 'insufficient_balance']) {
      node.overrides.push((_req, res) =>
        send(res, 200, JSON.stringify({ tx_hash: 'x', status: 'rejected', error: reason })),
      );
      expect(await client.submit(tx)).toEqual({
        accepted: false,
        retryable: false,
        mayBeIncluded: true,
        error: `rejected: ${reason}`,
      });
    }
  });

  it("reads the sender's nonces from /balance and /nonce?pending=true, as the node spells them", async () => {
    const key = keyOf(0x4242);
    const tx = signTx(key, {
      tx_type: 'TRANSFER',
      to_address: addressOf(1),
      amount: 5n,
      nonce: 0,
      timestamp: 0,
    });
    const sender = tx.from_address;
    const before = await client.account(sender);
    expect(before).toMatchObject({ nonce: 0, pendingNonce: 0 });
    await client.submit(tx);
    const after = await client.account(sender);
    expect(after.nonce).toBe(before.nonce);
    expect(after.pendingNonce).toBe(before.pendingNonce + 1);
    expect(typeof after.balance).toBe('bigint');
    node.overrides.push((_req, res) => send(res, 200, JSON.stringify({ address: sender, balance: '7' })));
    await expect(client.account(sender)).rejects.toMatchObject({ name: 'ChainError', retryable: false });
  });

  it('takes a 404 for an account the node has never seen as nonce 0 and balance 0, but not a missing route', async () => {
    const fresh = addressOf(0x4040);
    const notFound = () =>
      node.overrides.push((_req, res) => send(res, 404, JSON.stringify({ detail: 'Account not found' })));
    notFound();
    notFound();
    expect(await client.account(fresh)).toEqual({ nonce: 0, pendingNonce: 0, balance: 0n });
    // /balance known, /nonce 404: the pending nonce is the account nonce.
    node.overrides.push((_req, res) =>
      send(res, 200, JSON.stringify({ address: fresh, balance: '9', nonce: 3 })),
    );
    notFound();
    expect(await client.account(fresh)).toEqual({ nonce: 3, pendingNonce: 3, balance: 9n });
    // FastAPI's own 404 for a route it lacks: the URL is wrong, not the account empty.
    node.overrides.push((_req, res) => send(res, 404, JSON.stringify({ detail: 'Not Found' })));
    await expect(client.account(fresh)).rejects.toMatchObject({
      name: 'ChainError',
      retryable: false,
      message: expect.stringMatching(/no such endpoint/),
    });
  });

  it('5xx, 408, 429 are retryable; other 4xx are not', async () => {
    const tx = transferTx(nonce++);
    for (const [status, retryable] of [
      [500, true],
      [502, true],
      [503, true],
      [408, true],
      [429, true],
      [400, false],
      [404, false],
      [422, false],
    ] as const) {
      node.overrides.push((_req, res) =>
        send(res, status, JSON.stringify({ detail: 'Node not initialized' })),
      );
      expect(await client.submit(tx)).toEqual({
        accepted: false,
        retryable,
        // The node can answer 400 after its pool took the transaction: the courier looks for it.
        ...(status === 400 ? { mayBeIncluded: true } : {}),
        error: `HTTP ${status}: Node not initialized`,
      });
    }
  });

  it('an unreadable 2xx, a timeout and a dropped connection are retryable', async () => {
    const tx = transferTx(nonce++);
    node.overrides.push((_req, res) => send(res, 200, '<html>proxy</html>'));
    expect(await client.submit(tx)).toMatchObject({ accepted: false, retryable: true });
    node.overrides.push(() => {
      /* never answers */
    });
    const impatient = new HttpChainClient({ baseUrl: node.url, timeoutMs: 300 });
    expect(await impatient.submit(tx)).toMatchObject({
      accepted: false,
      retryable: true,
      error: expect.stringMatching(/timed out/),
    });
    await impatient.close();
    node.overrides.push((req) => req.socket.destroy());
    expect(await client.submit(tx)).toMatchObject({ accepted: false, retryable: true });
  });

  it('a node that is not there is retryable', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const gone = new HttpChainClient({ baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 300 });
    expect(await gone.submit(transferTx(0))).toMatchObject({ accepted: false, retryable: true });
    await expect(gone.head()).rejects.toMatchObject({ name: 'ChainError', retryable: true });
    await gone.close();
  });

  it('reads blocks exactly, amounts past 2^53 included, and the head', async () => {
    await chain.produceBlock(); // seal what earlier tests left pending
    const results = [resultOf(1), resultOf(2)];
    const big = 123_456_789_123_456_789_123n;
    // A sender of its own: the node takes a sender's nonces in sequence, and earlier tests left gaps.
    const key = keyOf(0x4343);
    const txs = [
      signTx(key, {
        tx_type: 'TRANSFER',
        to_address: addressOf(2),
        amount: big,
        nonce: 0,
        timestamp: 1_700_000_000,
      }),
      submitResultTx(1, results[0]!, key),
      submitResultTx(2, results[1]!, key),
    ];
    for (const tx of txs) expect((await client.submit(tx)).accepted).toBe(true);
    const produced = await chain.produceBlock();
    const read = await client.getBlock(produced.header.height);
    // The node does not echo a transaction's timestamp (neither hashed nor signed): read as 0.
    const untimed = txs.map((tx) => ({ ...tx, timestamp: 0 }));
    expect(read).toEqual({ ...produced, txs: untimed });
    expect(read?.txs.map(txHash)).toEqual(txs.map(txHash));
    expect(read?.txs[0]?.amount).toBe(big);
    expect(read?.header.compute_root).toBe(computeRoot(results));
    expect(await client.head()).toEqual({ height: produced.header.height, hash: produced.hash });
    expect(await client.getBlock(10_000)).toBeUndefined();
  });

  it('read failures are ChainErrors that say whether to retry', async () => {
    node.overrides.push((_req, res) => send(res, 503, '{"detail":"Node not initialized"}'));
    const e1 = await client.getBlock(0).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(ChainError);
    expect(e1).toMatchObject({ retryable: true, message: expect.stringMatching(/503/) });
    node.overrides.push((_req, res) => send(res, 400, '{}'));
    await expect(client.head()).rejects.toMatchObject({ retryable: false });
    node.overrides.push((_req, res) => send(res, 200, '{"header":{},"txs":[]}'));
    await expect(client.getBlock(0)).rejects.toMatchObject({
      retryable: false,
      message: expect.stringMatching(/unreadable/),
    });
    node.overrides.push((_req, res) => send(res, 200, '{"height":"x"}'));
    await expect(client.head()).rejects.toMatchObject({ retryable: false });
  });

  it('close() aborts requests in flight', async () => {
    const slow = new HttpChainClient({ baseUrl: node.url, timeoutMs: 10_000 });
    const arrived = new Promise<void>((resolve) => node.overrides.push(() => resolve()));
    const pending = slow.submit(transferTx(nonce++));
    await arrived;
    await slow.close();
    expect(await pending).toMatchObject({
      accepted: false,
      retryable: true,
      error: expect.stringMatching(/closed/),
    });
    expect(await slow.submit(transferTx(nonce++))).toMatchObject({
      accepted: false,
      error: expect.stringMatching(/closed/),
    });
  });
});
