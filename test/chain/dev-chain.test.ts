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
    const chain = await open();
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

  it('accepts a resubmitted transaction idempotently, before and after inclusion', async () => {
    const chain = await open();
    const tx = transferTx(0);
    await chain.submit(tx);
    expect(await chain.submit(tx)).toEqual({ accepted: true, txHash: txHash(tx), duplicate: true });
    // The same transaction with another (unsigned) timestamp is the same transaction.
    expect(await chain.submit({ ...tx, timestamp: 5 })).toMatchObject({ accepted: true, duplicate: true });
    await chain.produceBlock();
    expect(await chain.submit(tx)).toEqual({
      accepted: true,
      txHash: txHash(tx),
      duplicate: true,
      height: 1,
    });
    expect((await chain.produceBlock()).txs).toEqual([]);
    expect(chain.stats).toMatchObject({ accepted: 1, duplicates: 3 });
  });

  it('refuses a second transaction at a used nonce, and bad transactions, for good', async () => {
    const chain = await open();
    await chain.submit(transferTx(0));
    expect(await chain.submit(transferTx(0, 1n))).toMatchObject({
      accepted: false,
      retryable: false,
      error: expect.stringMatching(/^nonce_reused/),
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

  it('can require that a SUBMIT_RESULT comes from its worker, as the node does', async () => {
    const chain = await open({ requireWorkerIsSender: true });
    const r = resultOf(1);
    expect(await chain.submit(submitResultTx(0, r))).toMatchObject({ accepted: false, retryable: false });
    // resultOf(1)'s worker is addressOf(2), whose key is keyOf(2).
    expect(await chain.submit(submitResultTx(0, r, keyOf(2)))).toMatchObject({ accepted: true });
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
    expect(await second.submit(transferTx(0))).toMatchObject({ accepted: true, duplicate: true, height: 1 });
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
