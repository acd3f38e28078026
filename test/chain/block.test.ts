import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import { blockHash, blockToJson, decodeBlock, txRoot, ZERO_HASH } from '../../src/chain/block.js';
import type { BlockHeader } from '../../src/chain/port.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { txHash, txHashPreimage, verifyTx } from '../../src/domain/chain-tx.js';
import { verifySignature } from '../../src/domain/identity.js';
import { resultOf, submitResultTx, transferTx } from './fixtures.js';

const header: BlockHeader = {
  height: 10,
  prev_hash: 'ab'.repeat(32),
  timestamp: 1_700_000_000,
  chain_id: 'computechain-1',
  proposer_address: 'cpcvalcons1xyz',
  round: 0,
  tx_root: ZERO_HASH,
  state_root: 'cd'.repeat(32),
  compute_root: '',
  gas_used: 21000,
  gas_limit: 10_000_000,
};

describe('blocks', () => {
  it('hashes the header fields concatenated as text, in the node order', () => {
    const preimage = `10${'ab'.repeat(32)}1700000000computechain-1cpcvalcons1xyz0${ZERO_HASH}${'cd'.repeat(32)}2100010000000`;
    expect(blockHash(header)).toBe(bytesToHex(sha256(utf8ToBytes(preimage))));
  });

  it('tx_root: zeros for none, a lone hash as itself, odd levels duplicated', () => {
    const [a, b, c] = ['11', '22', '33'].map((x) => x.repeat(32)) as [string, string, string];
    const h = (x: Uint8Array, y: Uint8Array) => sha256(concatBytes(x, y));
    const [A, B, C] = [a, b, c].map(hexToBytes) as [Uint8Array, Uint8Array, Uint8Array];
    expect(txRoot([])).toBe(ZERO_HASH);
    expect(txRoot([a])).toBe(a);
    expect(txRoot([a, b])).toBe(bytesToHex(h(A, B)));
    expect(txRoot([a, b, c])).toBe(bytesToHex(h(h(A, B), h(C, C))));
  });

  it("reads the node's block JSON, setting aside kinds the market does not send", () => {
    const txs = [transferTx(0), submitResultTx(1, resultOf(1))];
    const stake = { tx_type: 'STAKE', from_address: 'cpc1x', amount: 1, payload: { pub_key: '02' } };
    const json = { ...blockToJson({ hash: 'ignored', header, txs, other_txs: [] }), pq_signature: '' };
    json.txs.push(stake);
    const d = decodeBlock(JSON.parse(JSON.stringify(json)));
    expect(d).toEqual({ ok: true, block: { hash: blockHash(header), header, txs, other_txs: [stake] } });
    expect(d.ok && d.block.txs.map(txHash)).toEqual(txs.map(txHash));
  });

  it('fills the header fields the node may leave out and refuses broken blocks', () => {
    const minimal = { height: 1, prev_hash: ZERO_HASH, timestamp: 5, tx_root: ZERO_HASH };
    const d = decodeBlock({ header: minimal, txs: [] });
    expect(d.ok && d.block.header).toEqual({
      ...minimal,
      chain_id: '',
      proposer_address: '',
      round: 0,
      state_root: '',
      compute_root: '',
      gas_used: 0,
      gas_limit: 0,
    });
    expect(decodeBlock([])).toMatchObject({ ok: false });
    expect(decodeBlock({ header: { ...minimal, height: -1 }, txs: [] })).toMatchObject({
      ok: false,
      error: expect.stringMatching(/height/),
    });
    expect(decodeBlock({ header: minimal })).toMatchObject({
      ok: false,
      error: expect.stringMatching(/txs/),
    });
  });

  it("reads other senders' transactions of any shape the chain takes, without refusing the block", () => {
    const minimal = { height: 1, prev_hash: ZERO_HASH, timestamp: 5, tx_root: ZERO_HASH };
    const ours = submitResultTx(2, resultOf(2));
    const wire = (tx: typeof ours) =>
      JSON.parse(JSON.stringify(blockToJson({ hash: '', header, txs: [tx], other_txs: [] }).txs[0]));
    const withPayload = { ...wire(transferTx(0) as never), payload: { memo: 'hi' } };
    const validator = {
      ...wire(transferTx(1) as never),
      from_address: 'cpcvalcons1ntax6c87sxtc5l0yxjszjyxnq9djwuyauj3jmf',
    };
    const extraKey = wire(ours);
    extraKey.payload.gpu_seconds = 12;
    const d = decodeBlock({ header: minimal, txs: [withPayload, validator, extraKey] });
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.block.other_txs).toEqual([withPayload, validator]);
    // The ComputeResult's unknown key is dropped, as the chain's model drops it.
    expect(d.block.txs).toHaveLength(1);
    expect(d.block.txs[0]).toMatchObject({ tx_type: 'SUBMIT_RESULT', payload: resultOf(2) });
    const badTx = { ...wire(transferTx(0) as never), amount: 'x' };
    expect(decodeBlock({ header: minimal, txs: [badTx] })).toMatchObject({
      ok: true,
      block: { other_txs: [badTx] },
    });
  });

  it('takes a high-S signature on a transaction, as the node does, and keeps its own low-S', () => {
    const tx = transferTx(0);
    const n = secp256k1.Point.CURVE().n;
    const s = BigInt(`0x${tx.signature.slice(64)}`);
    const highS = tx.signature.slice(0, 64) + (n - s).toString(16).padStart(64, '0');
    expect(verifyTx(tx)).toBeUndefined();
    expect(verifyTx({ ...tx, signature: highS })).toBeUndefined();
    expect(verifySignature(tx.pub_key, utf8ToBytes(txHashPreimage(tx)), highS)).toBe(false);
    expect(verifySignature(tx.pub_key, utf8ToBytes(txHashPreimage(tx)), highS, { highS: true })).toBe(true);
  });
});
