// Shared fixtures of the chain tests: a database with the dev chain's tables, keys and
// transactions signed by them.

import { signTx, type SignedTx } from '../../src/domain/chain-tx.js';
import { addressFromPublicKey, publicKeyFromPrivate } from '../../src/domain/identity.js';
import type { ComputeResult } from '../../src/domain/merkle.js';
import type { Db } from '../../src/store/db.js';
import { testDb } from '../helpers/db.js';

/** A test database; the dev chain's tables come with the migrations (0005_courier.sql). */
export async function devChainDb(): Promise<Db> {
  return testDb();
}

export const keyOf = (i: number): string => i.toString(16).padStart(64, '0');
export const addressOf = (i: number): string => addressFromPublicKey(publicKeyFromPrivate(keyOf(i)));
export const MARKET_KEY = keyOf(0xabc);
export const MARKET = addressOf(0xabc);

export function transferTx(nonce: number, amount = 25n * 10n ** 18n, to = addressOf(nonce + 100)): SignedTx {
  return signTx(MARKET_KEY, { tx_type: 'TRANSFER', to_address: to, amount, nonce, timestamp: 1_700_000_000 });
}

export function resultOf(i: number): ComputeResult {
  return {
    task_id: `00000000-0000-4000-8000-${i.toString().padStart(12, '0')}`,
    worker_address: addressOf(i + 1),
    result_hash: i.toString(16).padStart(2, '0').repeat(32),
    proof: 'bb'.repeat(32),
    nonce: i,
    signature: 'cc'.repeat(64),
  };
}

export function submitResultTx(nonce: number, result: ComputeResult, key = MARKET_KEY): SignedTx {
  return signTx(key, { tx_type: 'SUBMIT_RESULT', result, nonce, timestamp: 1_700_000_000 });
}
