// The market's chain key: the secp256k1 key that signs its SUBMIT_RESULT and TRANSFER
// transactions. It lives in the data directory as a wallet key file (domain/identity.ts layout),
// readable only by its owner, made on first start like the operator key and never overwritten:
// a new key would be a new chain account with a fresh nonce sequence and none of the funds.

import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { unixSeconds, type Clock } from '../domain/clock.js';
import { generateKeyPair, keyFileFor, parseKeyFile } from '../domain/identity.js';
import { keyFileText, withUnixCreatedAt } from '../worker/keyfile.js';

export function chainKeyPath(dataDir: string): string {
  return join(dataDir, 'chain.key');
}

/** The chain private key (hex) from the data directory, created there if missing. */
export function ensureChainKey(dataDir: string, clock: Clock): string {
  const file = chainKeyPath(dataDir);
  if (existsSync(file)) {
    try {
      return parseKeyFile(withUnixCreatedAt(JSON.parse(readFileSync(file, 'utf8')))).private_key;
    } catch (err) {
      throw new Error(`${file}: ${(err as Error).message}`, { cause: err });
    }
  }
  mkdirSync(dataDir, { recursive: true });
  const pair = generateKeyPair();
  const body = keyFileFor('market', pair.privateKey, unixSeconds(clock));
  writeFileSync(file, keyFileText(body), { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return pair.privateKey;
}
