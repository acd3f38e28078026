// Task service: creating a task stores it and moves its reward into escrow in one transaction
// (grouped with concurrent requests); cancelling and deadline expiry release the escrow.

import { createHash, randomUUID } from 'node:crypto';
import { unixSeconds, type Clock } from '../domain/clock.js';
import { MarketError, validationError } from '../domain/errors.js';
import { SYSTEM_ACCOUNTS, transfer, type Journal } from '../domain/ledger.js';
import { CPC, describeAmountProblem, formatAmount, parseAmount } from '../domain/money.js';
import { payloadProblems, type ChallengeType } from '../domain/schemas/payloads.js';
import type {
  CreateTaskBody,
  CreateTaskResponse,
  ListTasksQuery,
  ListTasksResponse,
  TaskView,
} from '../domain/schemas/tasks.js';
import type { Db, Queryable } from '../store/db.js';
import { appendJournals, lockBalances } from '../store/ledger.js';
import {
  closeOpenTasks,
  findByIdempotencyKeys,
  getTask,
  getTasks,
  insertTasks,
  listTasks,
  overdueTaskIds,
  type NewTaskRow,
  type TaskRow,
} from '../store/tasks.js';
import type { MarketEventBus } from './events.js';
import { Batcher, type Outcome } from './batcher.js';

export type Principal = { kind: 'operator' } | { kind: 'customer'; accountId: string };

interface CreateRequest {
  row: NewTaskRow;
  reward: bigint;
}

export interface CreateResult {
  response: CreateTaskResponse;
  /** True when an Idempotency-Key matched an earlier request: nothing new was stored. */
  replayed: boolean;
}

export class TaskService {
  private readonly creates: Batcher<CreateRequest, CreateResult>;
  private readonly reads: Batcher<string, TaskRow | undefined>;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly events: MarketEventBus,
    maxBatch = 256,
  ) {
    this.creates = new Batcher((items) => this.db.transaction((tx) => this.createBatch(tx, items)), maxBatch);
    this.reads = new Batcher(async (ids) => {
      const found = new Map((await getTasks(this.db, ids)).map((t) => [t.task_id, t]));
      return ids.map((id) => ({ ok: true, value: found.get(id) }));
    }, maxBatch);
  }

  async create(principal: Principal, body: CreateTaskBody, idempotencyKey?: string): Promise<CreateResult> {
    if (principal.kind !== 'customer')
      throw new MarketError('forbidden', 'tasks are created by customer accounts; use a customer API key');
    const now = unixSeconds(this.clock);
    const reward = parseAmount(body.reward);
    if (!reward.ok)
      throw validationError([{ path: '/reward', message: describeAmountProblem(reward.problem) }]);
    if (reward.value === 0n)
      throw validationError([{ path: '/reward', message: 'must be greater than zero' }]);
    if (body.deadline !== undefined && body.deadline <= now)
      throw validationError([{ path: '/deadline', message: `must be in the future (now is ${now})` }]);
    const problems = payloadProblems(body.challenge_type, body.payload);
    if (problems.length > 0) throw validationError(problems.map(([path, message]) => ({ path, message })));
    const row: NewTaskRow = {
      task_id: randomUUID(),
      account_id: principal.accountId,
      challenge_type: body.challenge_type,
      payload: body.payload,
      asset: CPC,
      reward: reward.value.toString(),
      escrow_held: reward.value.toString(),
      deadline: body.deadline ?? null,
      status: 'pending',
      idempotency_key: idempotencyKey ?? null,
      request_hash: idempotencyKey ? requestHash(body) : null,
      created_at: now,
      updated_at: now,
    };
    return this.creates.submit({ row, reward: reward.value });
  }

  /** Writes one batch: idempotency replays, funds checks in arrival order, then bulk inserts. */
  private async createBatch(tx: Queryable, items: CreateRequest[]): Promise<Outcome<CreateResult>[]> {
    const outcomes: Outcome<CreateResult>[] = new Array(items.length);
    const keyed = items.filter((i) => i.row.idempotency_key !== null);
    const earlier = new Map<
      string,
      { task_id: string; request_hash: string | null; status: string; created_at: number }
    >();
    for (const t of await findByIdempotencyKeys(
      tx,
      keyed.map((i) => ({ account_id: i.row.account_id, key: i.row.idempotency_key as string })),
    ))
      earlier.set(`${t.account_id}/${t.idempotency_key}`, t);

    const balances = await lockBalances(tx, [...new Set(items.map((i) => i.row.account_id))], CPC);
    const spent = new Map<string, bigint>();
    const accepted: CreateRequest[] = [];
    items.forEach((item, i) => {
      const { row } = item;
      if (row.idempotency_key !== null) {
        const key = `${row.account_id}/${row.idempotency_key}`;
        const first = earlier.get(key);
        if (first) {
          outcomes[i] =
            first.request_hash === row.request_hash
              ? { ok: true, value: { replayed: true, response: createResponse(first) } }
              : { ok: false, error: idempotencyConflict(row.idempotency_key) };
          return;
        }
      }
      const balance = balances.get(row.account_id);
      if (!balance) {
        outcomes[i] = {
          ok: false,
          error: new MarketError('unauthorized', 'the account of this API key no longer exists'),
        };
        return;
      }
      const used = spent.get(row.account_id) ?? 0n;
      const available = BigInt(balance.amount) + BigInt(balance.credit_limit) - used;
      if (item.reward > available) {
        outcomes[i] = {
          ok: false,
          error: new MarketError(
            'insufficient_funds',
            `reward ${formatAmount(item.reward)} exceeds the available ${formatAmount(available < 0n ? 0n : available)}`,
            {
              reward: formatAmount(item.reward),
              available: formatAmount(available < 0n ? 0n : available),
            },
          ),
        };
        return;
      }
      spent.set(row.account_id, used + item.reward);
      accepted.push(item);
      if (row.idempotency_key !== null) earlier.set(`${row.account_id}/${row.idempotency_key}`, row);
      outcomes[i] = { ok: true, value: { replayed: false, response: createResponse(row) } };
    });

    await insertTasks(
      tx,
      accepted.map((a) => a.row),
    );
    await appendJournals(
      tx,
      accepted.map((a): Journal => ({
        journalId: randomUUID(),
        kind: 'escrow_hold',
        ref: a.row.task_id,
        postings: transfer(a.row.account_id, SYSTEM_ACCOUNTS.escrow, a.row.asset, a.reward),
      })),
      unixSeconds(this.clock),
    );
    for (const a of accepted)
      this.events.emit('task.created', {
        taskId: a.row.task_id,
        accountId: a.row.account_id,
        challengeType: a.row.challenge_type,
      });
    return outcomes;
  }

  async get(principal: Principal, taskId: string): Promise<TaskView> {
    return taskView(visible(principal, taskId, await this.reads.submit(taskId)));
  }

  async list(principal: Principal, query: ListTasksQuery): Promise<ListTasksResponse> {
    const { rows, total } = await listTasks(this.db, {
      accountId: principal.kind === 'customer' ? principal.accountId : undefined,
      status: query.status,
      challengeType: query.challenge_type,
      limit: query.limit,
      offset: query.offset,
    });
    return {
      tasks: rows.map((r) => ({
        task_id: r.task_id,
        challenge_type: r.challenge_type as ChallengeType,
        status: r.status,
        reward: formatAmount(BigInt(r.reward)),
      })),
      total,
      limit: query.limit,
      offset: query.offset,
    };
  }

  /** Cancels an open task and refunds what its escrow still holds. */
  async cancel(principal: Principal, taskId: string): Promise<{ task: TaskView; refunded: bigint }> {
    const closed = await this.db.transaction(async (tx) => {
      const task = await this.visibleTask(tx, principal, taskId);
      const [row] = await this.closeAndRefund(tx, [task.task_id], 'cancelled', null);
      if (row) return row;
      const now = await getTask(tx, taskId);
      const status = now?.status ?? task.status;
      throw new MarketError('already_done', `task already ${status}`, { status });
    });
    this.events.emit('task.closed', { taskId, status: 'cancelled', reason: null });
    return {
      task: taskView({ ...closed, status: 'cancelled', escrow_held: '0' }),
      refunded: BigInt(closed.escrow_held),
    };
  }

  /** Fails every open task whose deadline has passed and refunds it; returns how many. */
  async expireOverdue(limit = 1000): Promise<number> {
    const now = unixSeconds(this.clock);
    const ids = await overdueTaskIds(this.db, now, limit);
    if (ids.length === 0) return 0;
    const closed = await this.db.transaction((tx) =>
      this.closeAndRefund(tx, ids, 'failed', 'deadline_exceeded'),
    );
    for (const t of closed)
      this.events.emit('task.closed', { taskId: t.task_id, status: 'failed', reason: 'deadline_exceeded' });
    return closed.length;
  }

  /** Waits until every create submitted so far has committed (tests, shutdown). */
  flushed(): Promise<void> {
    return this.creates.flushed();
  }

  private async closeAndRefund(
    tx: Queryable,
    ids: string[],
    to: 'cancelled' | 'failed',
    reason: string | null,
  ): Promise<TaskRow[]> {
    const now = unixSeconds(this.clock);
    const closed = await closeOpenTasks(tx, ids, to, reason, now);
    await appendJournals(
      tx,
      closed
        .filter((t) => BigInt(t.escrow_held) > 0n)
        .map((t) => ({
          journalId: randomUUID(),
          kind: 'escrow_refund' as const,
          ref: t.task_id,
          postings: transfer(SYSTEM_ACCOUNTS.escrow, t.account_id, t.asset, BigInt(t.escrow_held)),
        })),
      now,
    );
    return closed;
  }

  private async visibleTask(q: Queryable, principal: Principal, taskId: string): Promise<TaskRow> {
    return visible(principal, taskId, await getTask(q, taskId));
  }
}

/** A customer sees only its own tasks: another's task is as unknown as a missing one. */
function visible(principal: Principal, taskId: string, row: TaskRow | undefined): TaskRow {
  if (!row || (principal.kind === 'customer' && row.account_id !== principal.accountId))
    throw new MarketError('not_found', `task ${taskId} not found`, { task_id: taskId });
  return row;
}

function createResponse(row: { task_id: string; status: string; created_at: number }): CreateTaskResponse {
  return {
    task_id: row.task_id,
    status: row.status as CreateTaskResponse['status'],
    created_at: row.created_at,
  };
}

function idempotencyConflict(key: string): MarketError {
  return new MarketError(
    'idempotency_conflict',
    'this Idempotency-Key was used with a different request body',
    {
      idempotency_key: key,
    },
  );
}

/** A stable hash of the request body: keys sorted, so field order does not matter. */
export function requestHash(body: unknown): string {
  return createHash('sha256').update(canonicalJson(body)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(value);
}

export function taskView(row: TaskRow): TaskView {
  const view: TaskView = {
    task_id: row.task_id,
    status: row.status,
    challenge_type: row.challenge_type as ChallengeType,
    payload: row.payload,
    reward: formatAmount(BigInt(row.reward)),
    deadline: row.deadline,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
  if (row.failure_reason) view.failure_reason = row.failure_reason;
  if (row.status === 'completed' && row.result_hash && row.worker_address && row.completed_at !== null)
    view.result = {
      result_hash: row.result_hash,
      worker_address: row.worker_address,
      completed_at: row.completed_at,
    };
  return view;
}
