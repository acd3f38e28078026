import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import { blockHash, blockToJson, decodeBlock, txRoot, ZERO_HASH } from '../../src/chain/block.js';
import type { BlockHeader } from '../../src/chain/port.js';
import { txHash } from '../../src/domain/chain-tx.js';
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
    const badTx = { ...transferTx(0), amount: 'x' };
    expect(decodeBlock({ header: minimal, txs: [badTx] })).toMatchObject({
      ok: false,
      error: expect.stringMatching(/txs\[0\]/),
    });
  });
});
