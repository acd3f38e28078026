import { expect, it } from 'vitest';
import { encodeTx } from '../../src/chain/wire.js';
import { txHash, verifyTx } from '../../src/domain/chain-tx.js';
import {
  batchLeaf,
  checkVerdict,
  courierBackoffMs,
  draftKind,
  MAX_RESULTS_PER_TX,
  parseBatchProof,
  parseTaskProof,
  resultBatchDedupKey,
  resultDedupKey,
  sealDraft,
  tasksOnChain,
  type CheckReason,
  type OutboxDraft,
} from '../../src/domain/courier.js';
import { addressFromPublicKey, publicKeyFromPrivate } from '../../src/domain/identity.js';
import { proofRoot } from '../../src/domain/merkle.js';
import { largeBaseTable, SigningKey } from '../../src/domain/signing-key.js';

it('doubles the retry delay from the base up to the cap', () => {
  expect([1, 2, 3, 4, 5, 6].map((n) => courierBackoffMs(n, 1000, 10_000))).toEqual([
    1000, 2000, 4000, 8000, 10_000, 10_000,
  ]);
  expect(courierBackoffMs(10_000, 1000, 60_000)).toBe(60_000); // no overflow on huge attempt counts
});

it('jitters within the upper half of the step', () => {
  expect(courierBackoffMs(3, 1000, 10_000, () => 0)).toBe(2000);
  expect(courierBackoffMs(3, 1000, 10_000, () => 0.999999)).toBe(4000);
  expect(courierBackoffMs(3, 1000, 10_000, () => 0.5)).toBe(3000);
});

it('keys a task result by its task', () => {
  expect(resultDedupKey('t1')).toBe('result:t1');
});

it('reads the worker and job hashes back from a task proof', () => {
  expect(parseTaskProof('worker=cpc1x;jobs=aa,bb')).toEqual({ worker: 'cpc1x', jobHashes: ['aa', 'bb'] });
  expect(parseTaskProof('worker=cpc1x;jobs=')).toEqual({ worker: 'cpc1x', jobHashes: [] });
  expect(parseTaskProof('aa,bb')).toBeUndefined();
});

it('settles an answer that may mean "already included" by the account, never by the answer alone', () => {
  const at = (accountNonce: number, pendingNonce: number, reason: CheckReason = 'nonce_too_low') =>
    checkVerdict({ nonce: 5, reason, accountNonce, pendingNonce }).to;
  // Its nonce used on chain, yet no scanned block holds it: the operator decides.
  expect(at(6, 6)).toBe('held');
  // In the pool: wait for a block.
  expect(at(5, 6)).toBe('sent');
  expect(at(3, 9)).toBe('sent');
  // A lower nonce is missing: the node may hold this one queued. The same bytes again are safe
  // (already_in_pool at worst); giving up after a 400 waits until the gap below is settled.
  expect(at(3, 4)).toBe('pending');
  expect(at(3, 4, 'bad_request')).toBe('checking');
  // Absent with its nonce free: the same bytes again, except after a 400 (refused: give up).
  expect(at(5, 5)).toBe('pending');
  expect(at(5, 5, 'insufficient_balance')).toBe('pending');
  expect(at(5, 5, 'expired')).toBe('pending');
  expect(at(5, 5, 'bad_request')).toBe('failed');
});

// Sealed bytes pinned: RFC 6979 signatures are deterministic, so a faster signing path (a held
// SigningKey, a wider base-point table) must give exactly these. The signatures were checked
// against OpenSSL's RFC 6979 (Python cryptography, ECDSA(SHA256, deterministic_signing=True),
// s folded to low-S), and the hash against the node's rule (tx_type + … + sorted payload + pub_key).
const MARKET_KEY = (0xc0ffee).toString(16).padStart(64, '0');
const WORKER = addressFromPublicKey(publicKeyFromPrivate((7).toString(16).padStart(64, '0')));
const T = 1_700_000_000;
const resultDraft: OutboxDraft = {
  type: 'task_result',
  task_id: '550e8400-e29b-41d4-a716-446655440000',
  worker_address: WORKER,
  result_hash: 'aa'.repeat(32),
  job_hashes: ['bb'.repeat(32), 'cc'.repeat(32)],
};
const transferDraft: OutboxDraft = { type: 'transfer', to: WORKER, amount: '25000000000000000000' };
const PINNED = {
  pub_key: '032a5bbcb0eede528e6abe5f2ec50ad7887eb5677af383a460b05ee23bf892dfe5',
  from_address: 'cpc1lxvp7agw998t68qm76ek6t20gh320yrs6jw5h9',
  result: {
    hash: '8ecc62fe2643d07cf6cac01c05b7c1624e7810a092c53a1ddec485ceb82acb8f',
    signature:
      '7fe9c270f7d9f8f343b543acffdc1c56bb5f0b2c14d452ced42b608ec104e13d4cc9eb8b06b551b7b3dba278f076e036325fb30b3b63d92a0c37019678931dcc',
    resultSignature:
      '3adc96c3b03d8399b811a542e292571566d70c727c9c7023a8fe53339409238649cf6cd1da79753158a967a3234572524412dbd890eae7e0c93c29bb49c4318e',
  },
  transfer: {
    hash: '803f033602e5f7476cc58d218ef2746255f5b960c15108670905547af1e5db8e',
    signature:
      '3953864b91cac3788206cd856944f67ba4b1c8a065046d393927371218118b7c5caf4e01bb4f71687127cd844cf80de87c5472e1961bae69134a2460a991c28a',
  },
};

function expectPinned(key: SigningKey | string) {
  const result = sealDraft(resultDraft, 5, key, T);
  expect(result).toMatchObject({ pub_key: PINNED.pub_key, from_address: PINNED.from_address, nonce: 5 });
  // The node includes a result only from its worker: the market is the worker of record and the
  // worker that did the work is named in proof (docs/decisions.md).
  expect(result.payload).toMatchObject({
    nonce: 5,
    worker_address: PINNED.from_address,
    proof: `worker=${WORKER};jobs=${'bb'.repeat(32)},${'cc'.repeat(32)}`,
    signature: PINNED.result.resultSignature,
  });
  expect(result.signature).toBe(PINNED.result.signature);
  // The hash covers every field but timestamp and the tx signature, the ComputeResult's included.
  expect(txHash(result)).toBe(PINNED.result.hash);
  const transfer = sealDraft(transferDraft, 6, key, T);
  expect(transfer.signature).toBe(PINNED.transfer.signature);
  expect(txHash(transfer)).toBe(PINNED.transfer.hash);
  // What the courier stores and sends: the same bytes however the draft was signed.
  expect(encodeTx(sealDraft(resultDraft, 5, MARKET_KEY, T))).toBe(encodeTx(result));
}

it('seals a draft to pinned bytes, from a key in hex or a held SigningKey', () => {
  expectPinned(MARKET_KEY);
  expectPinned(new SigningKey(MARKET_KEY));
});

it('seals the same pinned bytes with the wider base-point table', () => {
  largeBaseTable();
  expectPinned(new SigningKey(MARKET_KEY));
  expectPinned(MARKET_KEY);
});

const TASK_A = {
  task_id: '550e8400-e29b-41d4-a716-446655440001',
  worker_address: WORKER,
  result_hash: 'aa'.repeat(32),
  job_hashes: ['bb'.repeat(32)],
};
const TASK_B = {
  task_id: '550e8400-e29b-41d4-a716-446655440002',
  worker_address: WORKER,
  result_hash: 'dd'.repeat(32),
  job_hashes: ['ee'.repeat(32), 'ff'.repeat(32)],
};

it('seals a settlement batch as one SUBMIT_RESULT whose proof lists every task and whose root checks', () => {
  const draft: OutboxDraft = { type: 'result_batch', tasks: [TASK_A, TASK_B] };
  expect(draftKind(draft)).toBe('SUBMIT_RESULT');
  const tx = sealDraft(draft, 9, MARKET_KEY, T);
  expect(tx.tx_type).toBe('SUBMIT_RESULT');
  if (tx.tx_type !== 'SUBMIT_RESULT') return;
  const root = proofRoot([batchLeaf(TASK_A), batchLeaf(TASK_B)]);
  expect(tx.payload).toMatchObject({
    task_id: `batch:${root}`,
    result_hash: root,
    worker_address: PINNED.from_address,
    nonce: 9,
  });
  // The market's ComputeResult signature covers the proof, and the transaction verifies.
  expect(verifyTx(tx)).toBeUndefined();
  expect(parseBatchProof(tx.payload.proof)).toEqual([TASK_A, TASK_B]);
  expect(tasksOnChain(tx.payload)).toEqual([TASK_A, TASK_B]);
  // Deterministic: the same draft at the same nonce is the same bytes.
  expect(encodeTx(sealDraft(draft, 9, new SigningKey(MARKET_KEY), T))).toBe(encodeTx(tx));
  // A proof that does not hash to the root records nothing.
  expect(tasksOnChain({ ...tx.payload, result_hash: 'ab'.repeat(32) })).toEqual([]);
  // The one-task form reads back the same way.
  const one = sealDraft(resultDraft, 5, MARKET_KEY, T);
  if (one.tx_type === 'SUBMIT_RESULT')
    expect(tasksOnChain(one.payload).map((t) => t.task_id)).toEqual(['550e8400-e29b-41d4-a716-446655440000']);
});

it('keys a result batch by its task ids, in any order, and refuses fields that would break its proof', () => {
  expect(resultBatchDedupKey(['b', 'a'])).toBe(resultBatchDedupKey(['a', 'b']));
  expect(resultBatchDedupKey(['a', 'b'])).not.toBe(resultBatchDedupKey(['a', 'c']));
  expect(resultBatchDedupKey(['a'])).toMatch(/^results:[0-9a-f]{64}$/);
  expect(() =>
    sealDraft({ type: 'result_batch', tasks: [{ ...TASK_A, task_id: 'x:y' }] }, 1, MARKET_KEY, T),
  ).toThrow(RangeError);
  expect(() => sealDraft({ type: 'result_batch', tasks: [] }, 1, MARKET_KEY, T)).toThrow(RangeError);
  const many = Array.from({ length: MAX_RESULTS_PER_TX + 1 }, (_, i) => ({ ...TASK_A, task_id: `t${i}` }));
  expect(() => sealDraft({ type: 'result_batch', tasks: many }, 1, MARKET_KEY, T)).toThrow(RangeError);
});
