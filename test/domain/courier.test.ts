import { expect, it } from 'vitest';
import { encodeTx } from '../../src/chain/wire.js';
import { txHash } from '../../src/domain/chain-tx.js';
import { courierBackoffMs, resultDedupKey, sealDraft, type OutboxDraft } from '../../src/domain/courier.js';
import { addressFromPublicKey, publicKeyFromPrivate } from '../../src/domain/identity.js';
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
    hash: '809d87d4b16e202e4d117905d34d0c69ac4a6b50d0d83116bac26b34434aeaed',
    signature:
      'ed61b5216b0bad86c6c166d696af3e9fafa07c784c9e59f7d98113962b135f123834cbaae0e17319cfabe437d4ccc6793ccc6bbb27927efef7fff040c67ebba8',
    resultSignature:
      '032f97d71f106c36b7715f65cc915fd341e6331e7da9176d483c33d9947f94790a8c7c200ab047f70a6c998e082714fa0c397be65e87bafd656970ca8cf92d7d',
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
  expect(result.payload).toMatchObject({ nonce: 5, signature: PINNED.result.resultSignature });
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
