import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  batchPayouts,
  computeResultSigningBytes,
  pythonJson,
  signTx,
  txHash,
  txHashPreimage,
  verifyTx,
  type PendingPayout,
  type SignedTx,
} from '../../src/domain/chain-tx.js';
import { addressFromPublicKey, publicKeyFromPrivate } from '../../src/domain/identity.js';
import type { ComputeResult } from '../../src/domain/merkle.js';

const keyOf = (i: number) => i.toString(16).padStart(64, '0');
const addressOf = (i: number) => addressFromPublicKey(publicKeyFromPrivate(keyOf(i)));
const MARKET_KEY = keyOf(0x1234);
const MARKET = addressOf(0x1234);
const WORKER = addressOf(7);

const result: ComputeResult = {
  task_id: '550e8400-e29b-41d4-a716-446655440000',
  worker_address: WORKER,
  result_hash: 'aa'.repeat(32),
  proof: 'bb'.repeat(32),
  nonce: 7,
  signature: 'cc'.repeat(64),
};

const transfer = (over: Partial<{ amount: bigint; nonce: number; timestamp: number }> = {}): SignedTx =>
  signTx(MARKET_KEY, {
    tx_type: 'TRANSFER',
    to_address: WORKER,
    amount: over.amount ?? 25n * 10n ** 18n,
    nonce: over.nonce ?? 3,
    timestamp: over.timestamp ?? 1_700_000_000,
  });

describe('chain transactions', () => {
  it('builds a TRANSFER with the node gas defaults and hashes it by the node rule', () => {
    const tx = transfer();
    expect(tx).toMatchObject({
      tx_type: 'TRANSFER',
      from_address: MARKET,
      to_address: WORKER,
      fee: 21_000_000n,
      gas_price: 1000,
      gas_limit: 21_000,
      payload: {},
      pub_key: publicKeyFromPrivate(MARKET_KEY),
    });
    const preimage = `TRANSFER${MARKET}${WORKER}25000000000000000000210000003100021000{}${tx.pub_key}`;
    expect(txHashPreimage(tx)).toBe(preimage);
    expect(txHash(tx)).toBe(bytesToHex(sha256(utf8ToBytes(preimage))));
  });

  it('signs the hash digest itself, as the node verifies it (low-S, compact)', () => {
    const tx = transfer();
    const digest = hexToBytes(txHash(tx));
    const ok = secp256k1.verify(hexToBytes(tx.signature), digest, hexToBytes(tx.pub_key), {
      prehash: false,
      lowS: true,
      format: 'compact',
    });
    expect(ok).toBe(true);
    expect(verifyTx(tx)).toBeUndefined();
  });

  it('a SUBMIT_RESULT carries exactly the ComputeResult, keys sorted in the hash', () => {
    const tx = signTx(MARKET_KEY, {
      tx_type: 'SUBMIT_RESULT',
      result: { ...result, extra: 'dropped' } as ComputeResult,
      nonce: 0,
      timestamp: 1,
    });
    expect(tx).toMatchObject({ to_address: null, amount: 0n, gas_limit: 80_000, fee: 80_000_000n });
    expect(Object.keys(tx.payload)).toEqual([
      'task_id',
      'worker_address',
      'result_hash',
      'proof',
      'nonce',
      'signature',
    ]);
    const payloadJson =
      `{"nonce":7,"proof":"${result.proof}","result_hash":"${result.result_hash}","signature":"${result.signature}",` +
      `"task_id":"${result.task_id}","worker_address":"${WORKER}"}`;
    expect(txHashPreimage(tx)).toBe(`SUBMIT_RESULT${MARKET}0800000000100080000${payloadJson}${tx.pub_key}`);
    expect(verifyTx(tx)).toBeUndefined();
    expect(() =>
      signTx(MARKET_KEY, {
        tx_type: 'SUBMIT_RESULT',
        result: { ...result, nonce: -1 },
        nonce: 0,
        timestamp: 1,
      }),
    ).toThrow(/nonce/);
  });

  it('the worker signs task_id + worker_address + result_hash + proof + nonce', () => {
    expect(new TextDecoder().decode(computeResultSigningBytes(result))).toBe(
      `${result.task_id}${WORKER}${result.result_hash}${result.proof}7`,
    );
  });

  it('timestamp and re-signing keep the hash; the signature still verifies', () => {
    const a = transfer();
    const b = transfer({ timestamp: 42 });
    expect(txHash(b)).toBe(txHash(a));
    expect(verifyTx(b)).toBeUndefined();
    expect(txHash(transfer({ nonce: 4 }))).not.toBe(txHash(a));
    expect(txHash(transfer({ amount: 1n }))).not.toBe(txHash(a));
  });

  it('names what is wrong with a transaction', () => {
    const tx = transfer();
    expect(verifyTx({ ...tx, amount: tx.amount + 1n })?.code).toBe('invalid_signature');
    expect(verifyTx({ ...tx, pub_key: publicKeyFromPrivate(keyOf(99)) })?.code).toBe('pub_key_mismatch');
    expect(verifyTx({ ...tx, fee: 1n })?.code).toBe('fee_too_low');
    expect(verifyTx({ ...tx, gas_price: 10 })?.code).toBe('gas_too_low');
    expect(verifyTx({ ...tx, gas_limit: 20_999 })?.code).toBe('gas_too_low');
    expect(verifyTx({ ...tx, to_address: 'cpc1nope' } as SignedTx)?.code).toBe('invalid_field');
    expect(verifyTx({ ...tx, nonce: -1 })?.code).toBe('invalid_field');
    expect(verifyTx({ ...tx, signature: 'zz' })?.code).toBe('invalid_signature');
    expect(verifyTx(tx, 2000)?.code).toBe('gas_too_low');
    expect(() => transfer({ amount: 0n })).toThrow(/positive/);
  });

  it("inherits the node's ambiguous preimage: amount 1 fee 23 hashes like amount 12 fee 3", () => {
    // Documented, not relied on: the market never varies fee and amount of one nonce.
    const tx = transfer({ amount: 1n });
    const twin = { ...tx, amount: 12n, fee: 3n };
    expect(txHash({ ...tx, fee: 23n })).toBe(txHash(twin));
  });

  it('sign then verify holds for any amount and nonce; both are in the hash', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 10n ** 30n }), fc.nat(), (amount, nonce) => {
        const tx = transfer({ amount, nonce });
        expect(verifyTx(tx)).toBeUndefined();
        expect(txHash(transfer({ amount, nonce: nonce + 1 }))).not.toBe(txHash(tx));
      }),
      { numRuns: 50 },
    );
  });
});

describe('Python-compatible payload JSON', () => {
  it('sorts keys by code point and escapes everything outside printable ASCII', () => {
    expect(pythonJson({ b: 1, a: [true, null, 'x'] })).toBe('{"a":[true,null,"x"],"b":1}');
    expect(pythonJson('é\u007f\u0001"\\/\n😀')).toBe('"\\u00e9\\u007f\\u0001\\"\\\\/\\n\\ud83d\\ude00"');
    // UTF-16 order would put U+1F600 (a surrogate pair) before U+FFFF; Python does not.
    expect(pythonJson({ '😀': 1, '\uffff': 2, é: 3, a: 4 })).toBe(
      '{"a":4,"\\u00e9":3,"\\uffff":2,"\\ud83d\\ude00":1}',
    );
    expect(pythonJson({})).toBe('{}');
    expect(() => pythonJson(1.5)).toThrow(RangeError);
  });
});

describe('payout batching', () => {
  const A = addressOf(1);
  const B = addressOf(2);

  it('aggregates by address, sets invalid entries aside and caps each transfer', () => {
    const pending = [
      { id: 1, address: A, amount: 5n },
      { id: 2, address: B, amount: 3n },
      { id: 3, address: A, amount: 7n },
      { id: 4, address: 'cpc1invalid', amount: 9n },
      { id: 5, address: B, amount: 0n },
      { id: 6, address: A.toUpperCase(), amount: 1n },
    ];
    const plan = batchPayouts(pending, 100n);
    expect(plan.transfers).toEqual([
      { to: A, amount: 12n },
      { to: B, amount: 3n },
    ]);
    expect(plan.paid.map((p) => p.id)).toEqual([1, 2, 3]);
    expect(plan.rejected.map((r) => [r.payout.id, r.reason])).toEqual([
      [4, 'invalid_address'],
      [5, 'non_positive_amount'],
      [6, 'invalid_address'],
    ]);
    expect(batchPayouts(pending, 5n).transfers).toEqual([
      { to: A, amount: 5n },
      { to: A, amount: 5n },
      { to: A, amount: 2n },
      { to: B, amount: 3n },
    ]);
    expect(() => batchPayouts(pending, 0n)).toThrow(RangeError);
    expect(() => batchPayouts([{ address: A, amount: 10n ** 18n }], 1n)).toThrow(
      /needs 1000000000000000000 transfers/,
    );
  });

  it('conserves every amount: transfers pay exactly what was paid, nothing is dropped', () => {
    const addresses = [addressOf(1), addressOf(2), addressOf(3), 'cpc1bad', ''];
    const entry = fc.record({
      address: fc.constantFrom(...addresses),
      amount: fc.bigInt({ min: -5n, max: 10n ** 21n }),
    });
    fc.assert(
      fc.property(
        fc.array(entry, { maxLength: 40 }),
        fc.bigInt({ min: 10n ** 19n, max: 10n ** 22n }),
        (pending, max) => {
          const plan = batchPayouts<PendingPayout>(pending, max);
          const sum = (xs: bigint[]) => xs.reduce((s, x) => s + x, 0n);
          expect(sum(plan.transfers.map((t) => t.amount))).toBe(sum(plan.paid.map((p) => p.amount)));
          expect(plan.paid.length + plan.rejected.length).toBe(pending.length);
          for (const t of plan.transfers) expect(t.amount > 0n && t.amount <= max).toBe(true);
          for (const a of addresses) {
            const owed = sum(plan.paid.filter((p) => p.address === a).map((p) => p.amount));
            expect(sum(plan.transfers.filter((t) => t.to === a).map((t) => t.amount))).toBe(owed);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
