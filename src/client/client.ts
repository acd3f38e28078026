// A typed client of the market's HTTP API, typed from the same schemas the server validates with.
// The CLI, the worker and the tests all go through it, and other projects import it as
// `taskmarket/client` (package.json `exports`): it loads nothing of the node at run time.

import type {
  AccountCreated,
  AccountView,
  Asset,
  BlobRef,
  CancelTaskResponse,
  CreateAccountBody,
  CreateTaskBody,
  CreateTaskResponse,
  CreateTasksResponse,
  DisputeBody,
  DisputeList,
  LedgerReport,
  ListTasksResponse,
  OfferList,
  ProviderView,
  TaskEvent,
  TaskJobsResponse,
  TaskOutcome,
  TaskStatus,
  TaskView,
} from './api-types.js';
import { readSse } from './sse.js';

export type * from './api-types.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface ClientOptions {
  url: string;
  apiKey?: string | undefined;
  /** Per-request timeout; the default is generous for a loaded node. Event streams have none. */
  timeoutMs?: number;
}

export interface ListTasksParams {
  status?: TaskStatus;
  challenge_type?: string;
  limit?: number;
  offset?: number;
}

export interface WaitOptions {
  /** Gives up with ApiError `request_timeout` after this long; default: wait as long as it takes. */
  timeoutMs?: number;
  /** Every event of the task as it comes (status, job, progress, result). */
  onEvent?: (event: TaskEvent) => void;
  signal?: AbortSignal;
}

const ENDED: ReadonlySet<string> = new Set(['completed', 'failed', 'cancelled']);

export class TaskMarketClient {
  readonly url: string;

  constructor(private readonly options: ClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
  }

  // Tasks

  createTask(body: CreateTaskBody, opts: { idempotencyKey?: string } = {}): Promise<CreateTaskResponse> {
    return this.request(
      'POST',
      '/tasks',
      body,
      opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : {},
    );
  }

  /** Many tasks in one request (up to 1,000): each result is the created task or its own error. */
  createTasks(tasks: CreateTaskBody[]): Promise<CreateTasksResponse> {
    return this.request('POST', '/tasks/batch', { tasks });
  }

  getTask(taskId: string): Promise<TaskView> {
    return this.request('GET', `/tasks/${encodeURIComponent(taskId)}`);
  }

  listTasks(params: ListTasksParams = {}): Promise<ListTasksResponse> {
    return this.request('GET', `/tasks${query(params)}`);
  }

  cancelTask(taskId: string): Promise<CancelTaskResponse> {
    return this.request('POST', `/tasks/${encodeURIComponent(taskId)}/cancel`);
  }

  /**
   * Disputes a completed task's results the market did not check: work that can be re-derived is
   * audited by independent providers (the dispute ends upheld or rejected), other work is recorded
   * against its provider.
   */
  disputeTask(taskId: string, body: DisputeBody): Promise<DisputeList> {
    return this.request('POST', `/tasks/${encodeURIComponent(taskId)}/disputes`, body);
  }

  /** A task's disputes and their verdicts. */
  taskDisputes(taskId: string): Promise<DisputeList> {
    return this.request('GET', `/tasks/${encodeURIComponent(taskId)}/disputes`);
  }

  /** The jobs of a task: status, worker, result hash, outputs (inference text, artifacts). */
  taskJobs(taskId: string): Promise<TaskJobsResponse> {
    return this.request('GET', `/tasks/${encodeURIComponent(taskId)}/jobs`);
  }

  /**
   * The task's events as they happen (GET /tasks/{id}/events): its status first, then status,
   * job and progress events, and `result` last, after which the iteration ends.
   */
  async *taskEvents(taskId: string, opts: { signal?: AbortSignal } = {}): AsyncGenerator<TaskEvent> {
    const res = await this.send('GET', `/tasks/${encodeURIComponent(taskId)}/events`, {
      accept: 'text/event-stream',
      ...(opts.signal ? { signal: opts.signal } : { noTimeout: true }),
    });
    if (!res.ok || !res.body) throw await errorOf(res);
    for await (const m of readSse(res.body as unknown as AsyncIterable<Uint8Array>))
      yield { type: m.event, data: JSON.parse(m.data) } as TaskEvent;
  }

  /**
   * Waits until the task ends and returns it with its jobs (their outputs included). Follows the
   * event stream and opens it again if the connection drops; an ended task answers at once.
   */
  async waitForTask(taskId: string, opts: WaitOptions = {}): Promise<TaskOutcome> {
    const signals = [opts.signal, opts.timeoutMs ? AbortSignal.timeout(opts.timeoutMs) : undefined];
    const signal = AbortSignal.any(signals.filter((s): s is AbortSignal => s !== undefined));
    for (let attempt = 0; ; attempt++) {
      try {
        for await (const event of this.taskEvents(taskId, { signal })) {
          opts.onEvent?.(event);
          if (event.type === 'result') return event.data;
        }
      } catch (err) {
        if (signal.aborted) throw timedOut(taskId, opts.signal);
        // A refusal (404, 401) is final; a dropped connection is tried again.
        if (err instanceof ApiError && err.status !== 0 && err.status < 500) throw err;
      }
      if (signal.aborted) throw timedOut(taskId, opts.signal);
      const task = await this.getTask(taskId);
      if (ENDED.has(task.status)) return { task, jobs: (await this.taskJobs(taskId)).jobs };
      await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 250 * 2 ** Math.min(attempt, 5))));
    }
  }

  // Blobs

  /** Uploads bytes (a task input over the inline limit); answers their BLAKE3 hash. */
  async putBlob(bytes: Uint8Array): Promise<BlobRef> {
    const res = await this.send('POST', '/blobs', {
      body: bytes,
      headers: { 'content-type': 'application/octet-stream' },
    });
    return json<BlobRef>(res);
  }

  async getBlob(hash: string): Promise<Uint8Array> {
    const res = await this.send('GET', `/blobs/${encodeURIComponent(hash)}`, {
      accept: 'application/octet-stream',
    });
    if (!res.ok) throw await errorOf(res);
    return new Uint8Array(await res.arrayBuffer());
  }

  // Offers, providers, RPC, parameters

  listOffers(params: { limit?: number; offset?: number } = {}): Promise<OfferList> {
    return this.request('GET', `/offers${query(params)}`);
  }

  /**
   * A provider's balances per asset, earnings, reputation and recent jobs. The operator key reads
   * any provider; a provider reads its own with `auth`: the headers taskmarket-provider-key (its
   * public key, hex), taskmarket-timestamp (unix seconds) and taskmarket-provider-signature (its
   * signature of "taskmarket provider view <address> <timestamp>").
   */
  getProvider(address: string, auth: Record<string, string> = {}): Promise<ProviderView> {
    return this.request('GET', `/providers/${encodeURIComponent(address)}`, undefined, auth);
  }

  fundProvider(
    address: string,
    amount: string,
  ): Promise<{ address: string; account_id: string; balance: string }> {
    return this.request('POST', `/providers/${encodeURIComponent(address)}/fund`, { amount });
  }

  /** A compute-market JSON-RPC method (POST /rpc, bare form): its result, or an ApiError. */
  rpc<T = unknown>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    return this.request('POST', '/rpc', { method, params });
  }

  getParams(): Promise<Record<string, unknown>> {
    return this.request('GET', '/params');
  }

  setParams(changes: Record<string, unknown>): Promise<Record<string, unknown>> {
    return this.request('PUT', '/params', changes);
  }

  // Accounts and the ledger

  me(): Promise<AccountView> {
    return this.request('GET', '/accounts/me');
  }

  createAccount(body: CreateAccountBody): Promise<AccountCreated> {
    return this.request('POST', '/accounts', body);
  }

  getAccount(accountId: string): Promise<AccountView> {
    return this.request('GET', `/accounts/${encodeURIComponent(accountId)}`);
  }

  fundAccount(accountId: string, amount: string, asset?: Asset): Promise<AccountView> {
    return this.request('POST', `/accounts/${encodeURIComponent(accountId)}/fund`, {
      amount,
      ...(asset ? { asset } : {}),
    });
  }

  setCreditLimit(accountId: string, creditLimit: string, asset?: Asset): Promise<AccountView> {
    return this.request('PUT', `/accounts/${encodeURIComponent(accountId)}/credit`, {
      credit_limit: creditLimit,
      ...(asset ? { asset } : {}),
    });
  }

  verifyLedger(): Promise<LedgerReport> {
    return this.request('GET', '/ledger/verify');
  }

  // Operations

  health(): Promise<{ status: string }> {
    return this.request('GET', '/healthz');
  }

  ready(): Promise<{ status: string }> {
    return this.request('GET', '/readyz');
  }

  /** The OpenAPI document the node serves. */
  openapi(): Promise<Record<string, unknown>> {
    return this.request('GET', '/openapi.json');
  }

  /** Any JSON endpoint: answers the parsed body, or throws ApiError in the catalogue's terms. */
  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<T> {
    const res = await this.send(method, path, {
      headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return json<T>(res);
  }

  private async send(
    method: string,
    path: string,
    opts: {
      body?: string | Uint8Array;
      headers?: Record<string, string>;
      accept?: string;
      signal?: AbortSignal;
      noTimeout?: boolean;
    } = {},
  ): Promise<Response> {
    const h: Record<string, string> = { accept: opts.accept ?? 'application/json', ...opts.headers };
    if (this.options.apiKey) h.authorization = `Bearer ${this.options.apiKey}`;
    const signal =
      opts.signal ?? (opts.noTimeout ? undefined : AbortSignal.timeout(this.options.timeoutMs ?? 30_000));
    try {
      return await fetch(this.url + path, {
        method,
        headers: h,
        ...(opts.body !== undefined ? { body: opts.body } : {}),
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      throw unreachable(this.url, err, opts.body !== undefined);
    }
  }
}

function query(params: object): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

function unreachable(url: string, err: unknown, sentBody: boolean): ApiError {
  const e = err as { name?: string; cause?: { code?: string }; message?: string };
  if (e.name === 'TimeoutError')
    return new ApiError(0, 'request_timeout', `the market at ${url} did not answer in time`);
  // A node that refuses a body too large (413) closes the connection before reading it all.
  if (sentBody && (e.cause?.code === 'EPIPE' || e.cause?.code === 'ECONNRESET'))
    return new ApiError(
      413,
      'payload_too_large',
      `the market at ${url} closed the connection while the request was sent (${e.cause.code}): the body is probably over its size limit`,
    );
  return new ApiError(
    0,
    'unavailable',
    `cannot reach the market at ${url} (${e.cause?.code ?? e.message ?? 'network error'}); is it running, and is --url right?`,
  );
}

function timedOut(taskId: string, callerSignal: AbortSignal | undefined): ApiError {
  return callerSignal?.aborted
    ? new ApiError(0, 'aborted', `stopped waiting for task ${taskId}`)
    : new ApiError(0, 'request_timeout', `task ${taskId} did not end in time`);
}

async function json<T>(res: Response): Promise<T> {
  if (!res.ok) throw await errorOf(res);
  const text = await res.text();
  try {
    return (text ? JSON.parse(text) : undefined) as T;
  } catch {
    throw new ApiError(
      res.status,
      'internal',
      `the market answered ${res.status} with a body that is not JSON`,
    );
  }
}

async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  let e: { code?: string; message?: string; details?: Record<string, unknown> } | undefined;
  try {
    e = (JSON.parse(text) as { error?: typeof e }).error;
  } catch {
    e = undefined;
  }
  return new ApiError(res.status, e?.code ?? 'internal', e?.message ?? `HTTP ${res.status}`, e?.details);
}
