// A typed client of the market's HTTP API, typed from the same schemas the server validates with.
// The CLI, the worker and the tests all go through it.

import type {
  AccountCreated,
  AccountView,
  CreateAccountBody,
  LedgerReport,
} from '../domain/schemas/accounts.js';
import type {
  CancelTaskResponse,
  CreateTaskBody,
  CreateTaskResponse,
  CreateTasksResponse,
  ListTasksResponse,
  TaskView,
} from '../domain/schemas/tasks.js';
import type { Asset } from '../domain/money.js';
import type { TaskStatus } from '../domain/task-state.js';

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
  /** Per-request timeout; the default is generous for a loaded node. */
  timeoutMs?: number;
}

export interface ListTasksParams {
  status?: TaskStatus;
  challenge_type?: string;
  limit?: number;
  offset?: number;
}

export class TaskMarketClient {
  readonly url: string;

  constructor(private readonly options: ClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
  }

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
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined) query.set(k, String(v));
    const qs = query.toString();
    return this.request('GET', `/tasks${qs ? `?${qs}` : ''}`);
  }

  cancelTask(taskId: string): Promise<CancelTaskResponse> {
    return this.request('POST', `/tasks/${encodeURIComponent(taskId)}/cancel`);
  }

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

  health(): Promise<{ status: string }> {
    return this.request('GET', '/healthz');
  }

  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<T> {
    const h: Record<string, string> = { accept: 'application/json', ...headers };
    if (this.options.apiKey) h.authorization = `Bearer ${this.options.apiKey}`;
    if (body !== undefined) h['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(this.url + path, {
        method,
        headers: h,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new ApiError(0, 'unavailable', `cannot reach the market at ${this.url} (${cause})`);
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      throw new ApiError(
        res.status,
        'internal',
        `the market answered ${res.status} with a body that is not JSON`,
      );
    }
    if (!res.ok) {
      const e = (parsed as { error?: { code?: string; message?: string; details?: Record<string, unknown> } })
        ?.error;
      throw new ApiError(res.status, e?.code ?? 'internal', e?.message ?? `HTTP ${res.status}`, e?.details);
    }
    return parsed as T;
  }
}
