// Running a provider-configured external command: an argv array (never a shell, so nothing in
// a payload can become shell syntax), in its own process group so a timeout, a cancel or an
// oversized output kills it and everything it started, with stdout streamed to the caller and
// capped, and the tail of stderr kept for the failure message.

import { spawn } from 'node:child_process';
import { JobFailure } from './types.js';

export interface CommandRun {
  argv: readonly string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Bytes written to stdin, which is then closed; without it stdin is /dev/null. */
  stdin?: Uint8Array;
  timeoutMs: number;
  /** stdout past this many bytes kills the command (runner_error). */
  maxStdoutBytes: number;
  onStdout?: (chunk: Buffer) => void;
  signal: AbortSignal;
  /** Polled while the command runs; a string return kills it with that message (runner_error). */
  watchdog?: { intervalMs: number; check: () => Promise<string | null> };
}

export interface CommandExit {
  stdoutBytes: number;
  stderrTail: string;
}

const STDERR_TAIL_BYTES = 2000;
/** After SIGTERM, how long a command gets to clean up before SIGKILL. */
const KILL_GRACE_MS = 2000;

/**
 * Runs the command to completion. Resolves when it exits 0; rejects with JobFailure `timeout`,
 * JobFailure `runner_error` (spawn failure, non-zero exit, too much output, watchdog) or the
 * signal's reason on abort — always after the process has exited, so nothing is left behind.
 */
export function runCommand(run: CommandRun): Promise<CommandExit> {
  const [file, ...args] = run.argv;
  if (!file) return Promise.reject(new JobFailure('runner_error', 'the configured command is empty'));
  if (run.signal.aborted) return Promise.reject(run.signal.reason);
  return new Promise<CommandExit>((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: run.cwd,
      env: run.env,
      stdio: [run.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdoutBytes = 0;
    let stderr = Buffer.alloc(0);
    let failure: unknown = null;
    let killTimer: NodeJS.Timeout | undefined;

    const killGroup = (sig: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        // ESRCH: the group is already gone.
      }
    };
    const stop = (why: unknown) => {
      if (failure !== null) return;
      failure = why;
      killGroup('SIGTERM');
      killTimer = setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS);
    };

    const timer = setTimeout(
      () => stop(new JobFailure('timeout', `command timed out after ${run.timeoutMs} ms`)),
      run.timeoutMs,
    );
    const onAbort = () => stop(run.signal.reason);
    run.signal.addEventListener('abort', onAbort, { once: true });
    let watching = false;
    const watch = run.watchdog
      ? setInterval(() => {
          if (watching) return;
          watching = true;
          run
            .watchdog!.check()
            .then((problem) => problem && stop(new JobFailure('runner_error', problem)))
            .catch(() => undefined)
            .finally(() => (watching = false));
        }, run.watchdog.intervalMs)
      : undefined;

    child.stdout?.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes > run.maxStdoutBytes) {
        stop(new JobFailure('runner_error', `command wrote more than ${run.maxStdoutBytes} bytes to stdout`));
        return;
      }
      if (failure === null) run.onStdout?.(chunk);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = Buffer.concat([stderr, chunk]);
      if (stderr.length > STDERR_TAIL_BYTES) stderr = stderr.subarray(stderr.length - STDERR_TAIL_BYTES);
    });
    if (run.stdin && child.stdin) {
      // A command that does not read its stdin closes the pipe early; that is its business.
      child.stdin.on('error', () => undefined);
      child.stdin.end(run.stdin);
    }

    child.once('error', (err) => {
      if (failure === null) failure = new JobFailure('runner_error', `cannot start ${file}: ${err.message}`);
    });
    child.once('close', (code, sig) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      clearInterval(watch);
      run.signal.removeEventListener('abort', onAbort);
      // Whatever the command left running in its group goes with it.
      killGroup('SIGKILL');
      const stderrTail = stderr.toString('utf8').trim();
      if (failure !== null) return reject(failure);
      if (code !== 0) {
        const how = code === null ? `was killed by ${sig}` : `exited with code ${code}`;
        return reject(new JobFailure('runner_error', `command ${how}${stderrTail ? `: ${stderrTail}` : ''}`));
      }
      resolve({ stdoutBytes, stderrTail });
    });
  });
}
