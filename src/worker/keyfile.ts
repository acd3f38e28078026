// The worker's key file on disk: the chain wallet's layout {name, address, public_key,
// private_key, created_at} (domain/identity.ts). Written once with mode 0600 and never over an
// existing file — overwriting a key loses the address and everything earned to it. Read back
// through parseKeyFile, which refuses a file whose address or public key the private key does not
// derive. `created_at` is written as the CPC chain's own CLI writes it, an ISO 8601 UTC string
// ("2026-12-03T22:14:26Z"), so the chain's tools and ours read each other's files; Unix seconds
// (files written before) are read too.

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
    key = parseKeyFile(withUnixCreatedAt(json));
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
    writeFileSync(path, keyFileText(file), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new KeyFileError(`${path} already exists; refusing to overwrite a key file`);
    throw new KeyFileError(`cannot write key file ${path}: ${code ?? (err as Error).message}`);
  }
  return file;
}

/** The key file's text as the chain's CLI writes it: created_at an ISO 8601 UTC string. */
export function keyFileText(file: KeyFile): string {
  return JSON.stringify({ ...file, created_at: isoSeconds(file.created_at) }, null, 2) + '\n';
}

/** "2026-12-03T22:14:26Z" for Unix seconds. */
export function isoSeconds(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * A parsed key file with created_at as Unix seconds, whichever way it was written: the chain's
 * ISO 8601 string (with an offset or Z, fractions of a second dropped) or an integer. Anything
 * else is left for parseKeyFile to refuse.
 */
export function withUnixCreatedAt(json: unknown): unknown {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return json;
  const o = json as Record<string, unknown>;
  const at = o.created_at;
  if (typeof at !== 'string') return json;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(at)) return json;
  const ms = Date.parse(at);
  return Number.isFinite(ms) && ms >= 0 ? { ...o, created_at: Math.floor(ms / 1000) } : json;
}
