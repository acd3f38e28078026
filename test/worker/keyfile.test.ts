// The worker key file: written 0600 in the wallet's layout, never over an existing file, and
// refused on load when it is not JSON or its keys do not belong together.

import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/clock.js';
import { generateKeyPair, keyFileFor, parseKeyFile } from '../../src/domain/identity.js';
import { KeyFileError, loadKeyFile, writeNewKeyFile } from '../../src/worker/keyfile.js';

const dir = mkdtempSync(join(tmpdir(), 'taskmarket-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('worker key file', () => {
  it('writes the wallet layout with mode 0600 and loads it back', () => {
    const path = join(dir, 'worker.json');
    const file = writeNewKeyFile(path, 'rig-1', new ManualClock(1_700_000_123_456));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const json = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    expect(Object.keys(json).sort()).toEqual(['address', 'created_at', 'name', 'private_key', 'public_key']);
    // As the CPC chain's CLI writes it: created_at an ISO 8601 UTC string.
    expect(json).toMatchObject({ name: 'rig-1', created_at: '2023-11-14T22:15:23Z' });
    expect(file.created_at).toBe(1_700_000_123);
    expect(parseKeyFile({ ...json, created_at: 1_700_000_123 })).toEqual(file);
    expect(loadKeyFile(path)).toEqual({ key: file });
  });

  it("reads a key file written by the chain's CLI (created_at ISO) and one with Unix seconds", () => {
    const pair = generateKeyPair();
    const body = keyFileFor('upstream', pair.privateKey, 0);
    const iso = join(dir, 'upstream.json');
    writeFileSync(iso, JSON.stringify({ ...body, created_at: '2026-12-03T22:14:26Z' }), { mode: 0o600 });
    expect(loadKeyFile(iso).key).toMatchObject({ address: pair.address, created_at: 1_796_336_066 });
    const offset = join(dir, 'offset.json');
    writeFileSync(offset, JSON.stringify({ ...body, created_at: '2026-12-03T23:14:26.5+01:00' }), {
      mode: 0o600,
    });
    expect(loadKeyFile(offset).key.created_at).toBe(1_796_336_066);
    const unix = join(dir, 'unix.json');
    writeFileSync(unix, JSON.stringify({ ...body, created_at: 1_700_000_000 }), { mode: 0o600 });
    expect(loadKeyFile(unix).key.created_at).toBe(1_700_000_000);
    const bad = join(dir, 'bad-date.json');
    writeFileSync(bad, JSON.stringify({ ...body, created_at: 'yesterday' }), { mode: 0o600 });
    expect(() => loadKeyFile(bad)).toThrow(/created_at/);
  });

  it('refuses to overwrite an existing file', () => {
    const path = join(dir, 'taken.json');
    writeFileSync(path, 'precious');
    expect(() => writeNewKeyFile(path, 'x', new ManualClock(0))).toThrow(/already exists/);
    expect(readFileSync(path, 'utf8')).toBe('precious');
  });

  it('refuses files that are missing, not JSON, or whose keys do not match', () => {
    expect(() => loadKeyFile(join(dir, 'nope.json'))).toThrow(/cannot read key file.*ENOENT/);
    const notJson = join(dir, 'not.json');
    writeFileSync(notJson, '{ nope', { mode: 0o600 });
    expect(() => loadKeyFile(notJson)).toThrow(/not valid JSON/);
    const a = generateKeyPair();
    const b = generateKeyPair();
    const mixed = join(dir, 'mixed.json');
    writeFileSync(mixed, JSON.stringify({ ...keyFileFor('m', a.privateKey, 1), address: b.address }), {
      mode: 0o600,
    });
    expect(() => loadKeyFile(mixed)).toThrow(KeyFileError);
    expect(() => loadKeyFile(mixed)).toThrow(/address .* does not belong to private_key/);
    // The message never carries the private key.
    try {
      loadKeyFile(mixed);
    } catch (err) {
      expect((err as Error).message).not.toContain(a.privateKey);
    }
  });

  it('warns when others can read the key', () => {
    const path = join(dir, 'open.json');
    writeFileSync(path, JSON.stringify(keyFileFor('o', generateKeyPair().privateKey, 1)), { mode: 0o644 });
    expect(loadKeyFile(path).warning).toMatch(/readable by others/);
  });
});
