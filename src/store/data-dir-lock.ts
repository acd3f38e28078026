// One process at a time on a PGlite data directory. PGlite runs PostgreSQL in single-user mode
// inside the process and takes no lock of its own: a second process on the same folder would write
// the same files with its own buffers and WAL position and corrupt the database without a word.
//
// The lock is a file holding the owner's pid, created with O_EXCL. A lock whose pid is no longer
// running (the node was killed) is stale and taken over. A pid reused by an unrelated process
// after a crash looks alive: the message names the file so the operator can remove it.

import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';

export class DataDirLockedError extends Error {
  constructor(
    readonly lockFile: string,
    readonly pid: number,
  ) {
    super(
      `the data directory is in use by process ${pid} (lock file ${lockFile}); ` +
        'stop that node first, or point this one at another --data-dir. ' +
        'If no node is running there, remove the lock file.',
    );
    this.name = 'DataDirLockedError';
  }
}

export interface DataDirLock {
  readonly file: string;
  /** Removes the lock file if it is still this process's. Safe to call twice. */
  release(): void;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

// Locks this process holds: a lock file with our own pid is ours only if it is in here; otherwise
// it was left by an earlier process that had the same pid (pid 1 in a container, every time).
const heldHere = new Set<string>();

/** Takes the lock file, or throws DataDirLockedError naming the process that holds it. */
export function lockDataDir(file: string): DataDirLock {
  if (heldHere.has(file)) throw new DataDirLockedError(file, process.pid);
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const pid = readPid(file);
    if (pid !== undefined && pid !== process.pid && isRunning(pid)) throw new DataDirLockedError(file, pid);
    // Stale (its process is gone) or unreadable (a crash while writing it): take it over once.
    // Two nodes taking over the same stale lock at the same instant both get here; the one whose
    // O_EXCL create loses sees the winner's live pid on its second pass.
    if (attempt > 0) throw new DataDirLockedError(file, pid ?? 0);
    try {
      unlinkSync(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  heldHere.add(file);
  return {
    file,
    release() {
      if (!heldHere.delete(file)) return;
      if (readPid(file) === process.pid) unlinkSync(file);
    },
  };
}
