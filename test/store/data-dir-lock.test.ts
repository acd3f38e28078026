// The PGlite data directory lock and file modes, in-process: a second open refused, a stale lock
// (its process gone) taken over, the fallback initdb's 0666 files made 0600.

import { spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DataDirLockedError, lockDataDir } from '../../src/store/data-dir-lock.js';
import { secureTree } from '../../src/store/pglite-data-dir.js';
import { openPglite } from '../../src/store/pglite.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'taskmarket-lock-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const proc = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => proc.once('exit', resolve));
  return proc.pid!;
}

describe('lockDataDir', () => {
  it('refuses a second holder and names the first; release frees it', () => {
    const file = join(tempDir(), 'pglite.lock');
    const lock = lockDataDir(file);
    expect(readFileSync(file, 'utf8').trim()).toBe(String(process.pid));
    expect(() => lockDataDir(file)).toThrow(DataDirLockedError);
    lock.release();
    expect(existsSync(file)).toBe(false);
    lockDataDir(file).release();
  });

  it('refuses a lock held by another running process', () => {
    const file = join(tempDir(), 'pglite.lock');
    writeFileSync(file, `${process.ppid}\n`);
    expect(() => lockDataDir(file)).toThrow(new RegExp(`in use by process ${process.ppid}`));
    expect(readFileSync(file, 'utf8').trim()).toBe(String(process.ppid));
  });

  it('takes over a stale lock whose process is gone, and one left with this pid by an earlier run', async () => {
    const file = join(tempDir(), 'pglite.lock');
    writeFileSync(file, `${await deadPid()}\n`);
    lockDataDir(file).release();
    writeFileSync(file, `${process.pid}\n`);
    const lock = lockDataDir(file);
    expect(readFileSync(file, 'utf8').trim()).toBe(String(process.pid));
    lock.release();
    writeFileSync(file, 'garbage');
    lockDataDir(file).release();
  });
});

describe('openPglite on a data directory', () => {
  it('locks it while open and leaves no file readable by group or others', async () => {
    const dir = join(tempDir(), 'data', 'pglite');
    const db = await openPglite(dir);
    try {
      await expect(openPglite(dir)).rejects.toThrow(DataDirLockedError);
      await db.query('CREATE TABLE t (x int)');
      await db.query('INSERT INTO t VALUES (1)');
    } finally {
      await db.close();
    }
    expect(existsSync(`${dir}.lock`)).toBe(false);
    const loose: string[] = [];
    const walk = (path: string) => {
      const st = statSync(path);
      if ((st.mode & 0o077) !== 0) loose.push(`${path} ${(st.mode & 0o777).toString(8)}`);
      if (st.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
    };
    walk(dir);
    expect(loose).toEqual([]);
    const again = await openPglite(dir);
    expect(await again.query('SELECT x FROM t')).toEqual([{ x: 1 }]);
    await again.close();
    // Two PGlite starts on a fresh folder: about 5 s alone, over 25 s on a loaded 2-core machine.
  }, 120_000);

  it('secureTree takes group and other bits off files and folders', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'f'), 'x', { mode: 0o666 });
    chmodSync(join(dir, 'f'), 0o666);
    chmodSync(dir, 0o755);
    secureTree(dir);
    expect(statSync(join(dir, 'f')).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });
});
