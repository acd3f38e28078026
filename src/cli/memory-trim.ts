// An idle node gives back memory it no longer uses. Two pieces stay with the process otherwise
// (docs/decisions.md "The embedded node's memory"):
// - glibc keeps memory that threads freed in per-thread malloc arenas instead of handing it back
//   to the OS; on an idle node most of it is the working memory of V8's optimizing compiler,
//   which compiles PGlite's WebAssembly on background threads (34–82 MB). malloc_trim(0) hands it
//   back; JavaScript has no binding for it, so it is called through koffi, an optional dependency
//   with prebuilt binaries. Where koffi or glibc is missing (macOS, musl), nothing is trimmed.
// - V8 collects its old generation when it fills, not when the process goes quiet: the garbage
//   of start-up (or of a burst of work) stays. One full collection when the node turns idle frees it.

import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from 'pino';

/** A node counts as idle while its threads used less than this share of one core over the interval. */
const IDLE_CPU_SHARE = 0.2;

type Trim = () => number;

/** glibc's malloc_trim(0) through koffi, or undefined where either is missing. */
export function loadMallocTrim(): Trim | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as {
      load(path: string): { func(signature: string): (pad: number) => number };
    };
    const trim = koffi.load('libc.so.6').func('int malloc_trim(size_t pad)');
    return () => trim(0);
  } catch {
    return undefined;
  }
}

let gc: (() => void) | undefined;

/** A full garbage collection (V8's `gc`, exposed to a context of its own, not to the node's code). */
function collectGarbage(): void {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
}

/**
 * Every `intervalS` seconds, if the process was idle over that interval (its CPU time, all
 * threads, under a fifth of one core): the first idle interval after work collects V8's garbage,
 * and every idle interval hands freed memory back with malloc_trim. A busy node is left alone, so
 * neither costs throughput. koffi is loaded on the first idle interval, not at start. Returns a
 * function that stops the timer.
 */
export function trimWhenIdle(
  intervalS: number,
  logger: Logger,
  load: () => Trim | undefined = loadMallocTrim,
): () => void {
  if (intervalS <= 0) return () => {};
  let trim: Trim | undefined | null = null;
  let collected = false;
  let last = process.cpuUsage();
  const timer = setInterval(() => {
    const used = process.cpuUsage(last);
    const share = (used.user + used.system) / 1e6 / intervalS;
    last = process.cpuUsage();
    if (share >= IDLE_CPU_SHARE) {
      collected = false;
      return;
    }
    const before = process.memoryUsage.rss();
    const started = performance.now();
    if (!collected) collectGarbage();
    collected = true;
    if (trim === null) {
      trim = load();
      if (!trim) logger.debug('malloc_trim not available here: freed memory stays with glibc');
    }
    trim?.();
    logger.debug(
      {
        freed_mb: Math.round((before - process.memoryUsage.rss()) / 1048576),
        ms: Math.round(performance.now() - started),
      },
      'idle: memory given back',
    );
    // This round's own CPU time is not the next interval's work.
    last = process.cpuUsage();
  }, intervalS * 1000);
  timer.unref();
  return () => clearInterval(timer);
}
