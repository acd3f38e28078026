// The bid commitment scheme (domain/bid-commit.ts), pinned against Python's hashlib and
// json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=True); the reveal rules; and the
// BidTx it travels in: a zero-amount TRANSFER to the market carrying {"bid_commit": h}, the only
// payload a TRANSFER the market writes or reads as its own may have.

import { expect, it } from 'vitest';
import { decodeBlock } from '../../src/chain/block.js';
import { decodeTx, encodeTx, txToWire } from '../../src/chain/wire.js';
import { bidCommitment, checkReveal } from '../../src/domain/bid-commit.js';
import { signTx, txHash, verifyTx } from '../../src/domain/chain-tx.js';
import { sealDraft } from '../../src/domain/courier.js';
import { SigningKey } from '../../src/domain/signing-key.js';
import { addressOf, keyOf } from '../chain/fixtures.js';

const SALT = '11'.repeat(32);
const STATE = {
  challenge_type: 'synthetic',
  payload: { seed: '1234abcd5678ef90', matrix_size: 1024, iterations: 100 },
  reward: '5.0',
  priority: 'high',
  note: 'café',
};

it('hashes tag, salt and the canonical state as Python does', () => {
  // python3: sha256(("taskmarket-bid-v1\n" + salt + "\n" + json.dumps(state, sort_keys=True,
  // separators=(",", ":"), ensure_ascii=True)).encode()).hexdigest()
  expect(bidCommitment(SALT, STATE)).toBe('22956b780087bffb01647882d602d7cca9580824c451a678a9115c8780f2dd2e');
  // Key order does not matter; any other salt or value does.
  const reordered = {
    reward: '5.0',
    note: 'café',
    priority: 'high',
    payload: STATE.payload,
    challenge_type: 'synthetic',
  };
  expect(bidCommitment(SALT, reordered)).toBe(bidCommitment(SALT, STATE));
  expect(bidCommitment('22'.repeat(32), STATE)).not.toBe(bidCommitment(SALT, STATE));
  expect(bidCommitment(SALT, { ...STATE, reward: '5.00' })).not.toBe(bidCommitment(SALT, STATE));
});

it('takes a reveal two blocks after the commitment block, never before, and only a matching one', () => {
  const commitment = bidCommitment(SALT, STATE);
  const facts = { commitment, salt: SALT, state: STATE };
  expect(checkReveal({ ...facts, commitHeight: undefined, headHeight: 99 })).toMatchObject({
    ok: false,
    code: 'reveal_too_early',
  });
  expect(checkReveal({ ...facts, commitHeight: 10, headHeight: 11 })).toMatchObject({
    ok: false,
    code: 'reveal_too_early',
    revealFrom: 12,
  });
  expect(checkReveal({ ...facts, commitHeight: 10, headHeight: 12 })).toEqual({ ok: true });
  expect(
    checkReveal({ ...facts, state: { ...STATE, reward: '6.0' }, commitHeight: 10, headHeight: 40 }),
  ).toMatchObject({
    ok: false,
    code: 'commitment_mismatch',
  });
  // A state the canonical form cannot write (a fraction) never matches.
  expect(checkReveal({ ...facts, state: { x: 1.5 }, commitHeight: 10, headHeight: 40 })).toMatchObject({
    ok: false,
    code: 'commitment_mismatch',
  });
});

it('seals a BidTx as a zero-amount TRANSFER to the market with the commitment, valid for the node', () => {
  const key = new SigningKey(keyOf(0xb1d));
  const commitment = bidCommitment(SALT, STATE);
  const tx = sealDraft({ type: 'bid_commit', bid_id: 'b', commitment }, 7, key, 1_700_000_000);
  expect(tx).toMatchObject({
    tx_type: 'TRANSFER',
    from_address: key.address,
    to_address: key.address,
    amount: 0n,
    fee: 21_000_000n,
    nonce: 7,
    payload: { bid_commit: commitment },
  });
  expect(verifyTx(tx)).toBeUndefined();
  // The payload is hashed and signed: the wire form round-trips to the same hash.
  const wire = JSON.parse(encodeTx(tx)) as { payload: unknown };
  expect(wire.payload).toEqual({ bid_commit: commitment });
  const back = decodeTx(wire);
  expect(back.ok && txHash(back.tx)).toBe(txHash(tx));
  // A payout of nothing is still refused; other payloads are not the market's.
  expect(() =>
    signTx(key, { tx_type: 'TRANSFER', to_address: addressOf(1), amount: 0n, nonce: 0, timestamp: 0 }),
  ).toThrow(/amount must be positive/);
  expect(decodeTx({ ...txToWire(tx), payload: { bid_commit: 'XY' } })).toMatchObject({ ok: false });
  expect(decodeTx({ ...txToWire(tx), payload: { bid_commit: commitment, memo: 'x' } })).toMatchObject({
    ok: false,
  });
});

it("reads a block holding a BidTx among the market's transactions; another sender's memo TRANSFER stays in other_txs", () => {
  const key = new SigningKey(keyOf(0xb1d));
  const bidTx = sealDraft({ type: 'bid_commit', bid_id: 'b', commitment: 'ab'.repeat(32) }, 0, key, 0);
  const memo = { ...txToWire(bidTx), payload: { memo: 'hello' } };
  const decoded = decodeBlock({
    header: {
      height: 3,
      prev_hash: '00'.repeat(32),
      timestamp: 1,
      tx_root: '00'.repeat(32),
    },
    txs: [{ ...txToWire(bidTx), amount: 0 }, memo],
  });
  expect(decoded.ok).toBe(true);
  if (!decoded.ok) return;
  expect(decoded.block.txs.map((t) => txHash(t))).toEqual([txHash(bidTx)]);
  expect(decoded.block.other_txs).toEqual([memo]);
});
