// The client a command talks through: the global --url and --api-key, or on the node's own
// machine the operator key from its data directory.

import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { TaskMarketClient } from '../client/client.js';
import { operatorKeyPath } from '../market/paths.js';
import { UsageError } from './output.js';

export type ClientOf = (cmd: Command) => TaskMarketClient;

export const clientOf: ClientOf = (cmd) => {
  const opts = cmd.optsWithGlobals<{ url: string; apiKey?: string; dataDir: string }>();
  let apiKey = opts.apiKey;
  if (!apiKey && existsSync(operatorKeyPath(opts.dataDir)))
    apiKey = readFileSync(operatorKeyPath(opts.dataDir), 'utf8').trim();
  return new TaskMarketClient({ url: opts.url, apiKey });
};

/** A JSON object from text or @file: --payload, --requirements. */
export function readJsonObject(flag: string, text: string): Record<string, unknown> {
  let source = text;
  if (text.startsWith('@')) {
    try {
      source = readFileSync(text.slice(1), 'utf8');
    } catch (err) {
      throw new UsageError(`${flag}: cannot read ${text.slice(1)} (${(err as NodeJS.ErrnoException).code})`);
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(source);
  } catch (err) {
    throw new UsageError(`${flag} is not valid JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new UsageError(`${flag} must be a JSON object`);
  return value as Record<string, unknown>;
}
