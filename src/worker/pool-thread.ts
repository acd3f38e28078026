// The body of one pool thread: runs CPU-heavy work (BLAKE3 of slice bytes, the synthetic matrix
// workload) off the agent's event loop, so heartbeats and the WebSocket keep flowing while a big
// slice is hashed. One task at a time; the synthetic run yields between chunks, which is when an
// abort message from the pool gets through.

import { parentPort } from 'node:worker_threads';
import { blake3 } from '@noble/hashes/blake3.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { PoolReply, PoolRequest } from './pool-protocol.js';
import { runSynthetic } from '../domain/synthetic.js';

const port = parentPort;
if (!port) throw new Error('pool-thread must run in a worker thread');

const running = new Map<number, AbortController>();

port.on('message', (msg: PoolRequest) => {
  if (msg.kind === 'abort') {
    running.get(msg.id)?.abort();
    return;
  }
  const controller = new AbortController();
  running.set(msg.id, controller);
  void execute(msg, controller.signal)
    .then((value): PoolReply => ({ kind: 'done', id: msg.id, value }))
    .catch((err: unknown): PoolReply => ({
      kind: 'error',
      id: msg.id,
      name: err instanceof Error ? err.name : 'Error',
      message: err instanceof Error ? err.message : String(err),
    }))
    .then((reply) => {
      running.delete(msg.id);
      port.postMessage(reply);
    });
});

async function execute(msg: PoolRequest & { kind: 'task' }, signal: AbortSignal): Promise<string> {
  const task = msg.task;
  switch (task.op) {
    case 'blake3':
      return bytesToHex(blake3(task.data));
    case 'synthetic': {
      const result = await runSynthetic(task.params, {
        signal,
        onProgress: (done, total) => port?.postMessage({ kind: 'progress', id: msg.id, done, total }),
      });
      return result.proof;
    }
  }
}
