// The data directory between real `taskmarket serve` processes: made 0700 with every file in it
// (PGlite's included) 0600, and a second node on the same PGlite folder refused while the first
// runs, with a message naming it; a lock left by a killed node is taken over.

import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { cli, startNode, type Node } from '../helpers/processes.js';

// Each test starts real node processes: seconds alone, far more on a loaded 2-core machine.
vi.setConfig({ testTimeout: 120_000 });

const env = { TASKMARKET_OPERATOR_KEY: 'tmop_data-dir-test-key-0000000000000000' };
const root = mkdtempSync(join(tmpdir(), 'taskmarket-data-dir-'));
const nodes: Node[] = [];
afterAll(async () => {
  for (const node of nodes) await node.stop('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

function looseModes(dir: string): string[] {
  const loose: string[] = [];
  const walk = (path: string) => {
    const st = statSync(path);
    if ((st.mode & 0o077) !== 0) loose.push(`${path} ${(st.mode & 0o777).toString(8)}`);
    if (st.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
  };
  walk(dir);
  return loose;
}

describe('a PGlite data directory', () => {
  const dataDir = join(root, 'data');

  it('is made 0700 with its files 0600, PGlite files included', async () => {
    const node = await startNode(['--data-dir', dataDir], env);
    nodes.push(node);
    const res = await fetch(`${node.url}/healthz`);
    expect(res.status).toBe(200);
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(readdirSync(join(dataDir, 'pglite')).length).toBeGreaterThan(10);
    expect(looseModes(dataDir)).toEqual([]);
  });

  it('refuses a second node on the same folder while the first runs', async () => {
    const second = await cli(['serve', '--port', '0', '--data-dir', dataDir], env);
    expect(second.code).not.toBe(0);
    expect(second.stderr).toContain(`in use by process ${nodes[0]!.proc.pid}`);
    expect(second.stderr).toContain(join(dataDir, 'pglite.lock'));
  });

  it('starts again after the first node was killed without removing its lock', async () => {
    await nodes.shift()!.stop('SIGKILL');
    expect(readdirSync(dataDir)).toContain('pglite.lock');
    const node = await startNode(['--data-dir', dataDir], env);
    nodes.push(node);
    expect((await fetch(`${node.url}/healthz`)).status).toBe(200);
    const stopped = await nodes.pop()!.stop('SIGTERM');
    expect(stopped).toBe(0);
    expect(readdirSync(dataDir)).not.toContain('pglite.lock');
  });
});
