import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { blockHash, txRoot, ZERO_HASH } from '../../src/chain/block.js';
import { DevChain, type DevChainOptions } from '../../src/chain/dev-chain.js';
import { txHash } from '../../src/domain/chain-tx.js';
import { ManualClock } from '../../src/domain/clock.js';
import { computeRoot } from '../../src/domain/merkle.js';
import type { Db } from '../../src/store/db.js';
import { devChainDb, keyOf, resultOf, submitResultTx, transferTx } from './fixtures.js';

const T0 = 1_700_000_000_000;

describe('dev chain', () => {
  let db: Db;
  let clock: ManualClock;
  const chains: DevChain[] = [];
  const open = async (opts: Partial<DevChainOptions> = {}) => {
    const chain = await DevChain.open({ db, clock, blockIntervalMs: 1000, ...opts });
    chains.push(chain);
    return chain;
  };

  // One database for the file (opening one costs seconds); each test starts from empty tables.
  beforeAll(async () => {
    db = await devChainDb();
  });
  afterAll(async () => {
    await db.close();
  });

  beforeEach(async () => {
    await db.query('TRUNCATE chain_txs, chain_blocks RESTART IDENTITY');
    clock = new ManualClock(T0);
  });

  afterEach(async () => {
    for (const c of chains.splice(0)) await c.close();
    vi.useRealTimers();
  });

  it('starts with an empty block 0 and seals pending transactions into the next block', async () => {
    const chain = await open();
    const genesis = await chain.getBlock(0);
    expect(genesis?.header).toMatchObject({
      height: 0,
      prev_hash: ZERO_HASH,
      timestamp: T0 / 1000,
      tx_root: ZERO_HASH,
      compute_root: '',
      gas_used: 0,
    });
    expect(genesis?.hash).toBe(blockHash(genesis!.header));
    expect(await chain.head()).toEqual({ height: 0, hash: genesis!.hash });

    const tx = transferTx(0);
    expect(await chain.submit(tx)).toEqual({ accepted: true, txHash: txHash(tx) });
    expect(await chain.pendingCount()).toBe(1);
    clock.advance(5000);
    const block = await chain.produceBlock();
    expect(block.header).toMatchObject({
      height: 1,
      prev_hash: genesis!.hash,
      timestamp: T0 / 1000 + 5,
      tx_root: txHash(tx),
      compute_root: '',
      gas_used: 21_000,
    });
    expect(block.txs).toEqual([tx]);
    expect(await chain.getBlock(1)).toEqual(block);
    expect(await chain.pendingCount()).toBe(0);
    expect(await chain.getBlock(2)).toBeUndefined();
    expect(await chain.getBlock(-1)).toBeUndefined();
  });

  it("a block's compute_root is the root of its SUBMIT_RESULT results in order", async () => {
    // Results crediting other workers: the node would drop them (see below), this chain may not.
    const chain = await open({ requireWorkerIsSender: false });
    const results = [resultOf(1), resultOf(2), resultOf(3)];
    const txs = [
      submitResultTx(0, results[0]!),
      transferTx(1),
      submitResultTx(2, results[1]!),
      submitResultTx(3, results[2]!),
    ];
    for (const tx of txs) expect((await chain.submit(tx)).accepted).toBe(true);
    const block = await chain.produceBlock();
    expect(block.header.compute_root).toBe(computeRoot(results));
    expect(block.header.tx_root).toBe(txRoot(txs.map(txHash)));
    expect(block.header.gas_used).toBe(3 * 80_000 + 21_000);
    expect(block.txs).toEqual(txs);
    expect(await chain.getBlock(1)).toEqual(block);
  });

  it('caps a block at maxTxsPerBlock, oldest first', async () => {
    const chain = await open({ maxTxsPerBlock: 2 });
    const txs = [0, 1, 2].map((n) => transferTx(n));
    for (const tx of txs) await chain.submit(tx);
    expect((await chain.produceBlock()).txs).toEqual(txs.slice(0, 2));
    expect((await chain.produceBlock()).txs).toEqual(txs.slice(2));
  });

  it('caps a block at maxBlockBytes of transactions, in nonce order; one larger than the cap still gets a block', async () => {
    const chain = await open({ maxBlockBytes: 1000 });
    const txs = [0, 1, 2, 3].map((n) => transferTx(n));
    for (const tx of txs) await chain.submit(tx);
    // A TRANSFER is ~450 bytes of JSON: two fit under 1,000 bytes, a third does not.
    expect((await chain.produceBlock()).txs).toEqual(txs.slice(0, 2));
    expect((await chain.produceBlock()).txs).toEqual(txs.slice(2));
    const tiny = await open({ maxBlockBytes: 1 });
    const next = transferTx(4);
    await tiny.submit(next);
    expect((await tiny.produceBlock()).txs).toEqual([next]);
  });

  it('takes a copy of a pooled transaction as a duplicate, and answers nonce_too_low once a block holds it', async () => {
    const chain = await open();
    const tx = transferTx(0);
    await chain.submit(tx);
    expect(await chain.submit(tx)).toEqual({ accepted: true, txHash: txHash(tx), duplicate: true });
    // The same transaction with another (unsigned) timestamp is the same transaction.
    expect(await chain.submit({ ...tx, timestamp: 5 })).toMatchObject({ accepted: true, duplicate: true });
    await chain.produceBlock();
    // The node's answer (smoke-transcript.json): a refusal that may mean "already included".
    expect(await chain.submit(tx)).toMatchObject({
      accepted: false,
      retryable: false,
      mayBeIncluded: true,
      error: expect.stringMatching(/^nonce_too_low/),
    });
    expect((await chain.produceBlock()).txs).toEqual([]);
    expect(chain.stats).toMatchObject({ accepted: 1, duplicates: 2 });
    expect(await chain.account(tx.from_address)).toEqual({ nonce: 1, pendingNonce: 1 });
  });

  it('refuses a second transaction at a pooled nonce, and bad transactions, for good', async () => {
    const chain = await open();
    await chain.submit(transferTx(0));
    expect(await chain.submit(transferTx(0, 1n))).toMatchObject({
      accepted: false,
      retryable: false,
      error: expect.stringMatching(/^nonce_in_pool/),
    });
    const tx = transferTx(1);
    expect(await chain.submit({ ...tx, amount: tx.amount + 1n })).toMatchObject({
      accepted: false,
      retryable: false,
      error: expect.stringMatching(/^invalid_signature/),
    });
    expect(await chain.submit({ ...tx, fee: 0n })).toMatchObject({
      accepted: false,
      error: expect.stringMatching(/^fee_too_low/),
    });
    expect(await chain.pendingCount()).toBe(1);
  });

  it('"received" is the pool: future nonces wait there until the gap below them is filled', async () => {
    const chain = await open();
    const [t0, t1, t2] = [0, 1, 2].map((n) => transferTx(n));
    expect(await chain.submit(t2!)).toMatchObject({ accepted: true });
    expect(await chain.submit(t1!)).toMatchObject({ accepted: true });
    expect(await chain.account(t0!.from_address)).toEqual({ nonce: 0, pendingNonce: 0 });
    expect((await chain.produceBlock()).txs).toEqual([]);
    await chain.submit(t0!);
    expect(await chain.account(t0!.from_address)).toEqual({ nonce: 0, pendingNonce: 3 });
    expect((await chain.produceBlock()).txs).toEqual([t0, t1, t2]);
    expect(await chain.account(t0!.from_address)).toEqual({ nonce: 3, pendingNonce: 3 });
  });

  it("takes a SUBMIT_RESULT whose worker is not its sender into the pool, then drops it, holding later nonces back (the node's Worker address mismatch)", async () => {
    const chain = await open();
    const r = resultOf(1);
    expect(await chain.submit(submitResultTx(0, r))).toMatchObject({ accepted: true });
    expect(await chain.submit(transferTx(1))).toMatchObject({ accepted: true });
    // The pool holds both, but the mismatch does not count toward the pending nonce.
    expect(await chain.account(transferTx(1).from_address)).toEqual({ nonce: 0, pendingNonce: 0 });
    expect((await chain.produceBlock()).txs).toEqual([]);
    expect(chain.stats.dropped).toBe(1);
    expect(await chain.pendingCount()).toBe(1); // nonce 1 waits for a nonce 0 that will not come
    expect((await chain.produceBlock()).txs).toEqual([]);
    // resultOf(1)'s worker is addressOf(2), whose key is keyOf(2): from its worker, it is included.
    expect(await chain.submit(submitResultTx(0, r, keyOf(2)))).toMatchObject({ accepted: true });
    expect((await chain.produceBlock()).txs).toHaveLength(1);
  });

  it('drops pooled transactions older than its TTL', async () => {
    const chain = await open({ txTtlMs: 60_000 });
    await chain.submit(transferTx(1)); // waits for nonce 0
    clock.advance(60_001);
    await chain.produceBlock();
    expect(await chain.pendingCount()).toBe(0);
    expect(chain.stats.dropped).toBe(1);
  });

  it('refuses past maxPooledPerSender retryably (queued_limit_exceeded)', async () => {
    const chain = await open({ maxPooledPerSender: 1 });
    await chain.submit(transferTx(0));
    expect(await chain.submit(transferTx(1))).toMatchObject({
      accepted: false,
      retryable: true,
      error: 'queued_limit_exceeded',
    });
  });

  it('tick produces a block only when the interval has passed on the clock', async () => {
    const chain = await open();
    expect(await chain.tick()).toBeUndefined();
    clock.advance(999);
    expect(await chain.tick()).toBeUndefined();
    clock.advance(1);
    expect((await chain.tick())?.header.height).toBe(1);
    expect(await chain.tick()).toBeUndefined();
  });

  it('start() produces blocks on its timer until close()', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const chain = await open();
    chain.start();
    clock.advance(1000);
    await vi.advanceTimersByTimeAsync(1000);
    await chain.close();
    expect((await chain.head()).height).toBe(1);
  });

  it('never dates a block before its parent when the clock goes backwards', async () => {
    const chain = await open();
    clock.advance(-60_000);
    const block = await chain.produceBlock();
    expect(block.header.timestamp).toBe(T0 / 1000);
  });

  it('keeps its blocks in the database across reopening', async () => {
    const first = await open();
    await first.submit(transferTx(0));
    const b1 = await first.produceBlock();
    await first.close();
    const second = await open();
    expect(await second.head()).toEqual({ height: 1, hash: b1.hash });
    await second.submit(transferTx(1));
    const b2 = await second.produceBlock();
    expect(b2.header).toMatchObject({ height: 2, prev_hash: b1.hash });
    expect(await second.submit(transferTx(0))).toMatchObject({ accepted: false, mayBeIncluded: true });
  });

  it('concurrent produceBlock calls take consecutive heights', async () => {
    const chain = await open();
    const blocks = await Promise.all([chain.produceBlock(), chain.produceBlock(), chain.produceBlock()]);
    expect(blocks.map((b) => b.header.height)).toEqual([1, 2, 3]);
    expect(blocks[1]!.header.prev_hash).toBe(blocks[0]!.hash);
  });

  it('fails about the configured fraction of submits, retryably and reproducibly', async () => {
    const N = 1000;
    const run = async (seed: number) => {
      const chain = await open({ failure: { rate: 0.3, seed } });
      const tx = transferTx(0);
      const outcomes = [];
      for (let i = 0; i < N; i++) outcomes.push(await chain.submit(tx));
      return { chain, outcomes };
    };
    const { chain, outcomes } = await run(42);
    const failed = outcomes.filter((o) => !o.accepted);
    expect(failed.length).toBe(chain.stats.injectedFailures);
    expect(failed.length / N).toBeGreaterThan(0.25);
    expect(failed.length / N).toBeLessThan(0.35);
    for (const f of failed)
      expect(f).toEqual({ accepted: false, retryable: true, error: 'injected failure' });
    // The same seed fails the same calls.
    const again = await run(42);
    expect(again.outcomes.map((o) => o.accepted)).toEqual(outcomes.map((o) => o.accepted));
  });

  it('a lost reply stores the transaction though the sender sees a failure', async () => {
    const chain = await open({ failure: { rate: 1, lostReplyShare: 1, seed: 7 } });
    const tx = transferTx(0);
    expect(await chain.submit(tx)).toMatchObject({ accepted: false, retryable: true });
    expect(await chain.findTx(txHash(tx))).toEqual({ height: null });
    const block = await chain.produceBlock();
    expect(block.txs).toEqual([tx]);
  });

  it('a closed chain answers retryably and refuses bad failure rates', async () => {
    const chain = await open();
    await chain.close();
    expect(await chain.submit(transferTx(0))).toMatchObject({ accepted: false, retryable: true });
    await expect(open({ failure: { rate: 1.5 } })).rejects.toThrow(RangeError);
  });
});
