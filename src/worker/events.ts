// The agent's typed event map: the CLI's logging, tests (await an event, never sleep) and any
// embedding program subscribe to these names.

import { EventEmitter } from 'node:events';
import type { ErrorMsg, NoticeMsg } from '../domain/schemas/worker.js';
import type { JobFailureReason } from './runners/types.js';

export interface WorkerAgentEvents {
  connecting: [{ url: string; attempt: number }];
  /** The market accepted the hello (welcome received). */
  connected: [{ address: string; heartbeatIntervalMs: number }];
  disconnected: [{ code: number; reason: string }];
  reconnecting: [{ delayMs: number; attempt: number }];
  'offer.accepted': [{ offerId: string }];
  'job.started': [{ jobId: string; challengeType: string; slices: number; units: number }];
  'job.progress': [{ jobId: string; done: number; total: number }];
  /** The result was computed (and sent, or queued until the connection is back). */
  'job.finished': [{ jobId: string; resultHash: string; proofs: string[] }];
  'job.failed': [{ jobId: string; reason: JobFailureReason; message: string }];
  /** The market cancelled the job and its runner has stopped; nothing was sent for it. */
  'job.cancelled': [{ jobId: string }];
  'result.accepted': [{ jobId: string }];
  /** The market rejected something this agent sent. */
  'market.error': [ErrorMsg];
  /** News from the market about this provider (a challenge type resting, a result proved wrong). */
  'market.notice': [NoticeMsg];
  /** A message from the market failed the agent's checks and was ignored. */
  'message.invalid': [{ problem: string }];
  /** The market refused this agent for good (bad key, old protocol, replaced); no reconnect. */
  fatal: [{ code: number; reason: string }];
  stopped: [];
}

export class WorkerAgentEventBus extends EventEmitter<WorkerAgentEvents> {}

/** The next emission of `event` that passes `filter`, as a promise of its argument. */
export function nextEvent<K extends keyof WorkerAgentEvents>(
  bus: WorkerAgentEventBus,
  event: K,
  filter: (...args: WorkerAgentEvents[K]) => boolean = () => true,
): Promise<WorkerAgentEvents[K][0]> {
  return new Promise((resolve) => {
    const listener = (...args: WorkerAgentEvents[K]) => {
      if (!filter(...args)) return;
      bus.off(event, listener as never);
      resolve(args[0]);
    };
    bus.on(event, listener as never);
  });
}
