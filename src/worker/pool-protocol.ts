// The messages between the thread pool and its threads (structured clone, not JSON).

import type { SyntheticParams } from '../domain/synthetic.js';

export type PoolTask =
  /** BLAKE3 of the bytes. A view over a SharedArrayBuffer is shared, any other view copied. */
  | { op: 'blake3'; data: Uint8Array }
  /** The synthetic matrix workload; its value is the proof. */
  | { op: 'synthetic'; params: SyntheticParams };

export type PoolRequest = { kind: 'task'; id: number; task: PoolTask } | { kind: 'abort'; id: number };

export type PoolReply =
  | { kind: 'done'; id: number; value: string }
  | { kind: 'error'; id: number; name: string; message: string }
  | { kind: 'progress'; id: number; done: number; total: number };
