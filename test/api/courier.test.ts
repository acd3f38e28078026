// The courier through a running node: each completed task queues one SUBMIT_RESULT in the
// settlement transaction (never twice, however results and settlement are replayed), Real-mode
// payouts go out as batched TRANSFERs that leave the books balanced, the operator flushes and
// inspects the dev chain over RPC, and the CLI commands drive the same methods.

import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import { TaskMarketClient } from '../../src/client/client.js';
import { blake3 } from '@noble/hashes/blake3.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { parseTaskProof } from '../../src/domain/courier.js';
import { computeRoot } from '../../src/domain/merkle.js';
import type { JobMsg } from '../../src/domain/schemas/worker.js';
import { registerCourierCommands } from '../../src/cli/courier.js';
import { verifyLedger } from '../../src/market/ledger.js';
import { OPERATOR_KEY, startTestMarket, type TestMarket } from '../helpers/market.js';
import { WorkerPool } from '../helpers/ws-worker.js';

let tm: TestMarket;
const dir = mkdtempSync(join(tmpdir(), 'courier-test-'));
const pool = new WorkerPool(() => ({ url: tm.url, connected: () => tm.market.dispatcher.connected }));
beforeAll(async () => {
  // The courier and block loops stay quiet: the tests flush and seal blocks themselves.
  tm = await startTestMarket({
    config: { courier_interval_ms: 3_600_000, chain_block_interval_ms: 3_600_000 },
  });
});
afterAll(async () => {
  await tm?.close();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => pool.closeAll());

const rpc = <T>(method: string, params: Record<string, unknown> = {}) =>
  tm.operator.request<T>('POST', '/rpc', { method, params });

async function runOne(price = '10.0', reward = '40.0') {
  const { client } = await tm.customer('100.0');
  const w = pool.make();
  await w.join({ price });
  const task = await client.createTask({
    challenge_type: 'gpuhash',
    payload: { input: Buffer.from('y'.repeat(64)).toString('base64') },
    reward,
  });
  const job = await w.next<JobMsg>('job', (m) => m.task_id === task.task_id);
  const result = w.result(job);
  w.send(result);
  await w.next('result_accepted');
  w.send(result); // a replayed result is refused and queues nothing
  await w.next('error');
  return { task, w };
}

const outboxOf = (key: string) =>
  tm.market.db.query<{ kind: string; status: string }>(
    'SELECT kind, status FROM outbox WHERE dedup_key = $1',
    [key],
  );

it('queues one SUBMIT_RESULT per completed task, even when results and settlement are replayed', async () => {
  const { task } = await runOne();
  expect(await outboxOf(`result:${task.task_id}`)).toEqual([{ kind: 'SUBMIT_RESULT', status: 'pending' }]);
  // Settlement replayed by hand: nothing new in the outbox, nonce sequence untouched.
  const before = await tm.market.db.query('SELECT count(*)::int AS n FROM outbox');
  await tm.market.db.transaction((tx) =>
    tm.market.settlement.settle(tx, [{ taskId: task.task_id, escrowHeld: 0n }]),
  );
  expect(await tm.market.db.query('SELECT count(*)::int AS n FROM outbox')).toEqual(before);
});

it('flushes to the dev chain, whose next block carries the task result in compute_root', async () => {
  const { task, w } = await runOne();
  const flushed = await rpc<{ sent: number; failed: number; pending: number }>('compute.courier_flush');
  expect(flushed).toMatchObject({ failed: 0, pending: 0 });
  expect(flushed.sent).toBeGreaterThanOrEqual(1);
  expect(await outboxOf(`result:${task.task_id}`)).toEqual([{ kind: 'SUBMIT_RESULT', status: 'sent' }]);

  const block = await tm.market.chainLink!.devChain!.produceBlock();
  const head = await rpc<{ height: number; hash: string }>('chain.head');
  expect(head).toEqual({ height: block.header.height, hash: block.hash });
  const shown = await rpc<{ header: { compute_root: string }; txs: { tx_type: string; payload: never }[] }>(
    'chain.block',
    { height: head.height },
  );
  const results = shown.txs.filter((t) => t.tx_type === 'SUBMIT_RESULT').map((t) => t.payload);
  const mine = results.find((r: { task_id: string }) => r.task_id === task.task_id) as unknown as {
    worker_address: string;
    result_hash: string;
  };
  const [stored] = await tm.market.db.query<{ result_hash: string }>(
    'SELECT result_hash FROM tasks WHERE task_id = $1',
    [task.task_id],
  );
  // The market is the worker of record (the node's rule); the worker is named in proof.
  expect(mine).toMatchObject({
    worker_address: tm.market.chainLink!.outbox.sender,
    result_hash: stored!.result_hash,
  });
  expect(parseTaskProof((mine as unknown as { proof: string }).proof)?.worker).toBe(w.key.address);
  expect(shown.header.compute_root).toBe(computeRoot(results));
  await expect(rpc('chain.block', { height: head.height + 1000 })).rejects.toMatchObject({
    code: 'not_found',
  });

  const metrics = await (await fetch(`${tm.url}/metrics`)).text();
  expect(metrics).toMatch(/courier_flush_attempt_total\{kind="SUBMIT_RESULT"\} [1-9]/);
});

it('in Real mode pays the worker share out as a batched TRANSFER and keeps the books balanced', async () => {
  await rpc('settlement.set_mode', { mode: 'Armed', delay_ms: 0 });
  const { w } = await runOne('10.0', '40.0');
  await pool.closeAll(); // the second task must go to a second provider
  await runOne('10.0', '40.0');
  const waiting = await tm.market.db.query<{ amount: string }>(
    'SELECT amount::text AS amount FROM payouts WHERE address = $1 AND batch_id IS NULL',
    [w.key.address],
  );
  expect(waiting).toEqual([{ amount: (25n * 10n ** 17n).toString() }]);
  const flushed = await rpc<{ payout_transfers_queued: number; failed: number }>('compute.courier_flush');
  expect(flushed.payout_transfers_queued).toBe(2); // one per provider
  expect(flushed.failed).toBe(0);
  const block = await tm.market.chainLink!.devChain!.produceBlock();
  const transfer = block.txs.find((t) => t.tx_type === 'TRANSFER' && t.to_address === w.key.address);
  expect(transfer?.amount).toBe(25n * 10n ** 17n);
  const [provider] = await tm.market.db.query<{ amount: string }>(
    `SELECT b.amount::text AS amount FROM balances b JOIN accounts a USING (account_id) WHERE a.address = $1`,
    [w.key.address],
  );
  expect(provider?.amount).toBe('0');
  const status = await rpc<{ balances: Record<string, string> }>('settlement_status');
  expect(status.balances.paid_out).toBe('5.0');
  expect((await verifyLedger(tm.market.db)).violations).toEqual([]);
  // A second flush finds nothing more to pay.
  expect(
    (await rpc<{ payout_transfers_queued: number }>('compute.courier_flush')).payout_transfers_queued,
  ).toBe(0);
  await rpc('settlement.set_mode', { mode: 'DryRun' });
}, 60_000);

it('drives the courier from the CLI: send a bundle file, flush, status, chain head and block', async () => {
  const file = join(dir, 'bundle.bin');
  writeFileSync(file, 'a bundle of receipts');
  const out: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
  const quiet = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  const run = async (...args: string[]) => {
    out.length = 0;
    process.exitCode = undefined;
    const root = new Command('taskmarket').exitOverride();
    registerCourierCommands(root, () => new TaskMarketClient({ url: tm.url, apiKey: OPERATOR_KEY }));
    await root.parseAsync(['node', 'taskmarket', ...args]);
    const code = process.exitCode ?? 0;
    process.exitCode = undefined;
    return { code, stdout: out.join('') };
  };
  try {
    const sent = await run('compute', 'courier', 'send', file, 'alice');
    expect(sent.code).toBe(0);
    const id = Number(sent.stdout.trim());
    const [row] = await tm.market.db.query<{ id: string; dedup_key: string }>(
      'SELECT id::text AS id, dedup_key FROM outbox WHERE id = $1',
      [id],
    );
    expect(row?.dedup_key).toBe(`bundle:${bytesToHex(blake3(Buffer.from('a bundle of receipts')))}:alice`);
    expect((await run('compute', 'courier', 'send', file, 'alice')).stdout.trim()).toBe(String(id));

    const flushed = await run('compute', 'courier', 'flush');
    expect(flushed.code).toBe(0);
    expect(JSON.parse(flushed.stdout)).toMatchObject({ failed: 0, retrying: 0, pending: 0 });
    const status = JSON.parse((await run('compute', 'courier', 'status')).stdout);
    expect(status).toMatchObject({ chain: 'dev', outbox: { pending: 0, failed: 0 } });
    await tm.market.chainLink!.devChain!.produceBlock();
    const head = JSON.parse((await run('chain', 'head')).stdout) as { height: number };
    const block = JSON.parse((await run('chain', 'block', String(head.height))).stdout);
    expect(block.txs.map((t: { payload: { task_id?: string } }) => t.payload.task_id)).toContain(
      `bundle:${bytesToHex(blake3(Buffer.from('a bundle of receipts')))}`,
    );
    expect((await run('chain', 'block', 'x')).code).toBe(2);

    // A held entry (its nonce used on chain by something the blocks do not show) is listed by
    // status and settled by the operator; one that is not held is refused.
    expect((await run('compute', 'courier', 'resolve', String(id))).code).toBe(2); // neither flag
    await expect(rpc('compute.courier_resolve', { id, outcome: 'landed' })).rejects.toMatchObject({
      code: 'conflict',
    });
    await tm.market.db.query(`UPDATE outbox SET status = 'held', last_error = 'nonce used' WHERE id = $1`, [
      id,
    ]);
    const held = JSON.parse((await run('compute', 'courier', 'status')).stdout);
    expect(held.held).toEqual([expect.objectContaining({ id, kind: 'SUBMIT_RESULT', reason: 'nonce used' })]);
    const resolved = await run('compute', 'courier', 'resolve', String(id), '--landed');
    expect(JSON.parse(resolved.stdout)).toEqual({ id, status: 'final' });
    await expect(rpc('compute.courier_resolve', { id, outcome: 'sideways' })).rejects.toMatchObject({
      code: 'validation_error',
    });
  } finally {
    spy.mockRestore();
    quiet.mockRestore();
  }
});
