// Bid commit–reveal through a running node (spec "Bid Commit–Reveal"): a customer commits a hash,
// the courier carries its BidTx (a zero-amount TRANSFER to the market with {"bid_commit": h}) to a
// block of the dev chain, and a reveal is refused before two blocks follow that block
// (reveal_too_early) or when (salt, task) do not hash to the commitment (commitment_mismatch),
// each refusal leaving the bid committed and no task; the matching reveal creates the task once.

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { bidCommitment } from '../../src/domain/bid-commit.js';
import type { SignedTx } from '../../src/domain/chain-tx.js';
import { apiError, EXAMPLE_PAYLOADS, startTestMarket, type TestMarket } from '../helpers/market.js';

let tm: TestMarket;
beforeAll(async () => {
  // The loops stay quiet: the test flushes the courier and seals blocks itself.
  tm = await startTestMarket({
    config: { courier_interval_ms: 3_600_000, chain_block_interval_ms: 3_600_000, chain_confirmations: 0 },
  });
});
afterAll(async () => {
  await tm?.close();
});

interface Bid {
  bid_id: string;
  status: string;
  commit_tx_status: string | null;
  commit_height: number | null;
  reveal_from: number | null;
  task_id: string | null;
}

const link = () => tm.market.chainLink!;
const block = () => link().devChain!.produceBlock();
const task = {
  challenge_type: 'synthetic' as const,
  payload: EXAMPLE_PAYLOADS.synthetic,
  reward: '5.0',
};

it('takes a reveal only two blocks after the commitment and only if it matches; then creates the task once', async () => {
  const { client } = await tm.customer('20.0');
  const salt = randomBytes(32).toString('hex');
  const commitment = bidCommitment(salt, task);
  const bid = await client.request<Bid>('POST', '/bids', { commitment });
  expect(bid).toMatchObject({ status: 'committed', commit_tx_status: 'pending', commit_height: null });
  const reveal = (body: unknown) => client.request<Bid>('POST', `/bids/${bid.bid_id}/reveal`, body);
  const tasksOf = async () => (await client.request<{ total: number }>('GET', '/tasks')).total;

  // Not in a block yet: too early.
  let err = await apiError(reveal({ salt, task }));
  expect(err.status).toBe(409);
  expect(err.code).toBe('reveal_too_early');

  // The courier sends the BidTx; a block takes it.
  await link().courier.flush();
  const held = await block();
  const bidTx = held.txs.find((t) => t.tx_type === 'TRANSFER') as SignedTx & { tx_type: 'TRANSFER' };
  expect(bidTx).toMatchObject({ amount: 0n, payload: { bid_commit: commitment } });
  expect(bidTx.to_address).toBe(link().outbox.sender);
  await link().courier.flush();
  const committed = await client.request<Bid>('GET', `/bids/${bid.bid_id}`);
  expect(committed).toMatchObject({
    commit_tx_status: 'final',
    commit_height: held.header.height,
    reveal_from: held.header.height + 2,
  });

  // One block on top: still too early, and it says from when.
  await block();
  err = await apiError(reveal({ salt, task }));
  expect(err.code).toBe('reveal_too_early');
  expect(err.details).toMatchObject({ reveal_from: held.header.height + 2 });

  // Two blocks on top: a reveal that does not match is refused…
  await block();
  err = await apiError(reveal({ salt, task: { ...task, reward: '4.0' } }));
  expect(err.status).toBe(422);
  expect(err.code).toBe('commitment_mismatch');
  err = await apiError(reveal({ salt: randomBytes(32).toString('hex'), task }));
  expect(err.code).toBe('commitment_mismatch');
  // …and each refusal left the bid committed, with no task.
  expect((await client.request<Bid>('GET', `/bids/${bid.bid_id}`)).status).toBe('committed');
  expect(await tasksOf()).toBe(0);

  // The matching reveal creates the task, once.
  const revealed = await reveal({ salt, task });
  expect(revealed).toMatchObject({ status: 'revealed' });
  expect(revealed.task_id).toMatch(/^[0-9a-f-]{36}$/);
  expect(await reveal({ salt, task })).toMatchObject({ task_id: revealed.task_id });
  expect(await tasksOf()).toBe(1);
  const created = await client.request<{ status: string; reward: string }>(
    'GET',
    `/tasks/${revealed.task_id}`,
  );
  expect(created.reward).toBe('5.0');
});

it('refuses a bad commitment, a commitment used before, consumer-lane work, and bids of other accounts', async () => {
  const { client } = await tm.customer('20.0');
  const { client: other } = await tm.customer('20.0');
  let err = await apiError(client.request('POST', '/bids', { commitment: 'ab' }));
  expect(err.code).toBe('validation_error');
  const salt = randomBytes(32).toString('hex');
  const consumer = {
    challenge_type: 'inference' as const,
    payload: EXAMPLE_PAYLOADS.inference,
    reward: '1.0',
  };
  const commitment = bidCommitment(salt, consumer);
  const bid = await client.request<Bid>('POST', '/bids', { commitment });
  err = await apiError(client.request('POST', '/bids', { commitment }));
  expect(err.code).toBe('conflict');
  err = await apiError(other.request('GET', `/bids/${bid.bid_id}`));
  expect(err.code).toBe('not_found');
  err = await apiError(tm.operator.request('POST', '/bids', { commitment: 'c'.repeat(64) }));
  expect(err.status).toBe(403);
  await link().courier.flush();
  for (let i = 0; i < 3; i++) await block();
  await link().courier.flush();
  err = await apiError(client.request('POST', `/bids/${bid.bid_id}/reveal`, { salt, task: consumer }));
  expect(err.code).toBe('validation_error');
  expect(err.message).toMatch(/industrial/);
  expect((await client.request<Bid>('GET', `/bids/${bid.bid_id}`)).status).toBe('committed');
});
