// A small pool of worker threads for CPU-heavy slice work. Threads start on first use, run one
// task each, and are unref'd while idle so a forgotten pool never holds the process open.
//
// Loading the thread: compiled code starts `pool-thread.js` next to this file. Under TypeScript
// sources (vitest, `tsx src/cli/main.ts`) this file's URL ends in `.ts`, and Node 20 cannot load
// a `.ts` thread by itself — `execArgv: ['--import', 'tsx']` does not reach a worker's own loader
// there — so the thread is started from a two-line bootstrap that registers tsx's ESM hooks
// inside the thread (tsx/esm/api `register()`) and then imports `pool-thread.ts`.

import { Worker } from 'node:worker_threads';
import type { PoolReply, PoolRequest, PoolTask } from './pool-protocol.js';

export type { PoolTask };

export interface RunOptions {
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

interface Pending {
  id: number;
  task: PoolTask;
  opts: RunOptions;
  resolve: (value: string) => void;
  reject: (err: unknown) => void;
  thread?: Thread;
  onAbort?: () => void;
}

interface Thread {
  worker: Worker;
  current: Pending | null;
}

export class PoolClosedError extends Error {
  constructor() {
    super('the thread pool is closed');
    this.name = 'PoolClosedError';
  }
}

export class ThreadPool {
  private readonly threads = new Set<Thread>();
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closed = false;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError('a thread pool needs at least one thread');
  }

  /** Runs a task on a pool thread; resolves with its value (a hex digest). */
  run(task: PoolTask, opts: RunOptions = {}): Promise<string> {
    if (this.closed) return Promise.reject(new PoolClosedError());
    if (opts.signal?.aborted) return Promise.reject(opts.signal.reason);
    return new Promise<string>((resolve, reject) => {
      const pending: Pending = { id: this.nextId++, task, opts, resolve, reject };
      if (opts.signal) {
        pending.onAbort = () => this.abort(pending);
        opts.signal.addEventListener('abort', pending.onAbort, { once: true });
      }
      this.queue.push(pending);
      this.pump();
    });
  }

  /** How many threads are running now (for tests and metrics). */
  get threadCount(): number {
    return this.threads.size;
  }

  /** Rejects whatever is queued or running and stops every thread. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const all = [...this.queue.splice(0)];
    for (const t of this.threads) if (t.current) all.push(t.current);
    for (const p of all) this.settle(p, () => p.reject(new PoolClosedError()));
    const threads = [...this.threads];
    this.threads.clear();
    await Promise.all(threads.map((t) => t.worker.terminate()));
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let idle = [...this.threads].find((t) => t.current === null);
      if (!idle) {
        if (this.threads.size >= this.size) return;
        idle = this.spawn();
      }
      const pending = this.queue.shift() as Pending;
      idle.current = pending;
      pending.thread = idle;
      idle.worker.ref();
      const req: PoolRequest = { kind: 'task', id: pending.id, task: pending.task };
      idle.worker.postMessage(req);
    }
  }

  private spawn(): Thread {
    const worker = startThread();
    const thread: Thread = { worker, current: null };
    this.threads.add(thread);
    worker.on('message', (reply: PoolReply) => this.onReply(thread, reply));
    const fail = (err: Error) => {
      if (!this.threads.delete(thread)) return;
      const p = thread.current;
      thread.current = null;
      if (p) this.settle(p, () => p.reject(new Error(`pool thread failed: ${err.message}`)));
      void worker.terminate();
      this.pump();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exited with code ${code}`)));
    return thread;
  }

  private onReply(thread: Thread, reply: PoolReply): void {
    const p = thread.current;
    if (!p || p.id !== reply.id) return;
    if (reply.kind === 'progress') {
      p.opts.onProgress?.(reply.done, reply.total);
      return;
    }
    thread.current = null;
    thread.worker.unref();
    const signal = p.opts.signal;
    this.settle(p, () => {
      // A task that finished anyway after its abort still counts as aborted: nobody wants it.
      if (signal?.aborted) p.reject(signal.reason);
      else if (reply.kind === 'done') p.resolve(reply.value);
      else p.reject(Object.assign(new Error(reply.message), { name: reply.name }));
    });
    this.pump();
  }

  private abort(p: Pending): void {
    const queued = this.queue.indexOf(p);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
      this.settle(p, () => p.reject(p.opts.signal?.reason));
    } else if (p.thread?.current === p) {
      const req: PoolRequest = { kind: 'abort', id: p.id };
      p.thread.worker.postMessage(req);
    }
  }

  private settle(p: Pending, fn: () => void): void {
    if (p.onAbort) p.opts.signal?.removeEventListener('abort', p.onAbort);
    fn();
  }
}

function startThread(): Worker {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return new Worker(new URL('./pool-thread.js', here));
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./pool-thread.ts', here).href;
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(bootstrap, { eval: true });
}
