// The worker's key file on disk: the chain wallet's layout {name, address, public_key,
// private_key, created_at} (domain/identity.ts). Written once with mode 0600 and never over an
// existing file — overwriting a key loses the address and everything earned to it. Read back
// through parseKeyFile, which refuses a file whose address or public key the private key does not
// derive.

import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { unixSeconds, type Clock } from '../domain/clock.js';
import {
  generateKeyPair,
  keyFileFor,
  parseKeyFile,
  type KeyFile,
  type RandomBytes,
} from '../domain/identity.js';

export class KeyFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyFileError';
  }
}

export interface LoadedKey {
  key: KeyFile;
  /** Set when others can read the file: the agent logs it as a warning. */
  warning?: string;
}

export function loadKeyFile(path: string): LoadedKey {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new KeyFileError(
      `cannot read key file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new KeyFileError(`key file ${path} is not valid JSON`);
  }
  let key: KeyFile;
  try {
    key = parseKeyFile(json);
  } catch (err) {
    throw new KeyFileError(`${path}: ${(err as Error).message}`);
  }
  const mode = statSync(path).mode & 0o777;
  if (process.platform !== 'win32' && (mode & 0o077) !== 0)
    return {
      key,
      warning: `key file ${path} is readable by others (mode ${mode.toString(8)}); chmod 600 it`,
    };
  return { key };
}

/** Creates a new key file (mode 0600); refuses to replace an existing one. */
export function writeNewKeyFile(path: string, name: string, clock: Clock, random?: RandomBytes): KeyFile {
  const pair = generateKeyPair(random);
  const file = keyFileFor(name, pair.privateKey, unixSeconds(clock));
  try {
    // 'wx' fails if the path exists, atomically: no window where a second writer could win.
    writeFileSync(path, JSON.stringify(file, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new KeyFileError(`${path} already exists; refusing to overwrite a key file`);
    throw new KeyFileError(`cannot write key file ${path}: ${code ?? (err as Error).message}`);
  }
  return file;
}
