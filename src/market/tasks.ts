// Task service: creating a task stores it and moves its reward into escrow in one transaction
// (grouped with concurrent requests); cancelling and deadline expiry release the escrow.

import { createHash, randomUUID } from 'node:crypto';
import { secondsOf, type Clock } from '../domain/clock.js';
import { MarketError, validationError, type FieldProblem } from '../domain/errors.js';
import { WEBHOOK_RECHECK_MS, webhookProblems } from '../domain/webhook.js';
import { byAsset, ctIt, holdEscrow, splitEscrow, splitTransfer, type CtIt } from '../domain/escrow-split.js';
import { SYSTEM_ACCOUNTS, type Journal } from '../domain/ledger.js';
import { CPC, describeAmountProblem, formatAmount, IT, parseAmount } from '../domain/money.js';
import { payloadProblems, type ChallengeType } from '../domain/schemas/payloads.js';
import type {
  CreateTaskBody,
  CreateTaskResponse,
  ListTasksQuery,
  ListTasksResponse,
  TaskView,
  JobView,
  TaskJobsResponse,
} from '../domain/schemas/tasks.js';
import { agedKey } from '../domain/priority.js';
import { defaultParams, type SchedulerParams } from '../domain/scheduler-params.js';
import { DEFAULT_FRAMES_PER_JOB, planTask, totalUnits, type WorkType } from '../domain/work.js';
import type { Db, Queryable } from '../store/db.js';
import { cancelJobsOfTasks, getJob, insertJobs, jobsOfTask, type NewJobRow } from '../store/jobs.js';
import { logCancellations } from '../store/scheduler.js';
import type { TakenBond } from '../store/bonds.js';
import { returnBonds, slashBonds } from './bonds.js';
import type { QueueEntry } from '../store/queue.js';
import { blobSizes } from '../store/providers.js';
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
import { insertTaskWebhooks, type NewTaskWebhook } from '../store/webhooks.js';
import type { MarketEventBus } from './events.js';
import { Batcher, type Outcome } from './batcher.js';
import { announceAdjusted, recordOutcomes } from './reputation-book.js';

export interface TaskServiceOptions {
  maxBatch: number;
  framesPerJob: number;
  params: () => SchedulerParams;
  /** Industrial admission: throws a MarketError (capacity, fair_share, burst_exhausted) to refuse. */
  admit?: (buyer: string, challengeType: string, units: number) => unknown;
  /** Why a task may not name this webhook URL (a private address, a host that does not resolve). */
  webhookTarget?: (url: string) => Promise<string | undefined>;
}

export type Principal = { kind: 'operator' } | { kind: 'customer'; accountId: string };

interface CreateRequest {
  row: NewTaskRow;
  reward: bigint;
  /** What the escrow holds of the reward in CT and in IT (fee_pct_ct). */
  hold: CtIt;
  /** transcode/gpuhash input given by reference: its size is looked up when the batch runs. */
  inputBlob: string | null;
  /** Where to tell the customer that the task ended (stored with the task, in its transaction). */
  webhook: NewTaskWebhook | null;
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
    private readonly options: TaskServiceOptions = {
      maxBatch: 256,
      framesPerJob: DEFAULT_FRAMES_PER_JOB,
      params: defaultParams,
    },
  ) {
    const { maxBatch } = options;
    this.creates = new Batcher(async (items) => {
      const { outcomes, accepted, entries } = await this.db.transaction((tx) => this.createBatch(tx, items));
      for (const { row, webhook } of accepted)
        this.events.emit('task.created', {
          taskId: row.task_id,
          accountId: row.account_id,
          challengeType: row.challenge_type,
          deadlineMs: row.deadline_ms,
          webhookCheckMs: webhook?.check_ms ?? null,
        });
      if (entries.length > 0) this.events.emit('job.queued', { count: entries.length, entries });
      return outcomes;
    }, maxBatch);
    this.reads = new Batcher(async (ids) => {
      const found = new Map((await getTasks(this.db, ids)).map((t) => [t.task_id, t]));
      return ids.map((id) => ({ ok: true, value: found.get(id) }));
    }, maxBatch);
  }

  async create(principal: Principal, body: CreateTaskBody, idempotencyKey?: string): Promise<CreateResult> {
    if (principal.kind !== 'customer')
      throw new MarketError('forbidden', 'tasks are created by customer accounts; use a customer API key');
    const nowMs = this.clock.nowMs();
    const now = secondsOf(nowMs);
    // Every problem of the request at once, so a customer fixes them in one go.
    const reward = parseAmount(body.reward);
    const problems: FieldProblem[] = [];
    if (!reward.ok) problems.push({ path: '/reward', message: describeAmountProblem(reward.problem) });
    else if (reward.value === 0n) problems.push({ path: '/reward', message: 'must be greater than zero' });
    if (body.deadline !== undefined && body.deadline <= now)
      problems.push({ path: '/deadline', message: `must be in the future (now is ${now})` });
    for (const [path, message] of payloadProblems(body.challenge_type, body.payload))
      problems.push({ path, message });
    const webhookIssues = webhookProblems(body.webhook_url, body.webhook_secret);
    problems.push(...webhookIssues);
    if (
      body.webhook_url !== undefined &&
      this.options.webhookTarget &&
      webhookIssues.every((p) => p.path !== '/webhook_url')
    ) {
      const target = await this.options.webhookTarget(body.webhook_url);
      if (target) problems.push({ path: '/webhook_url', message: target });
    }
    if (!reward.ok || problems.length > 0) throw validationError(problems);
    const row: NewTaskRow = {
      task_id: randomUUID(),
      account_id: principal.accountId,
      challenge_type: body.challenge_type,
      payload: body.payload,
      asset: CPC,
      it_asset: IT,
      fee_pct_ct: body.fee_pct_ct ?? 100,
      reward: reward.value.toString(),
      escrow_held: reward.value.toString(),
      escrow_ct: splitEscrow(reward.value, body.fee_pct_ct ?? 100).ct.toString(),
      deadline_ms: body.deadline === undefined ? null : body.deadline * 1000,
      status: 'pending',
      idempotency_key: idempotencyKey ?? null,
      request_hash: idempotencyKey ? requestHash(body) : null,
      created_at_ms: nowMs,
      updated_at_ms: nowMs,
      requirements: (body.requirements as Record<string, unknown> | undefined) ?? null,
      units: 0,
      jobs_total: 0,
      priority: body.priority ?? 'normal',
    };
    const inputBlob = typeof body.payload.input_blob === 'string' ? body.payload.input_blob : null;
    const hold = splitEscrow(reward.value, row.fee_pct_ct);
    const webhook =
      body.webhook_url !== undefined && body.webhook_secret !== undefined
        ? {
            task_id: row.task_id,
            url: body.webhook_url,
            secret: body.webhook_secret,
            check_ms: nowMs + WEBHOOK_RECHECK_MS,
          }
        : null;
    return this.creates.submit({ row, reward: reward.value, hold, inputBlob, webhook });
  }

  /**
   * Many tasks of one customer at once (POST /tasks/batch): each is checked and held on its own,
   * in order, through the same group commit as single creates, so they commit together in as few
   * transactions as the batch size allows; one refused task does not refuse the others.
   */
  createMany(
    principal: Principal,
    bodies: readonly CreateTaskBody[],
  ): Promise<PromiseSettledResult<CreateResult>[]> {
    return Promise.allSettled(bodies.map((b) => this.create(principal, b)));
  }

  /** Writes one batch: idempotency replays, funds checks in arrival order, then bulk inserts. */
  private async createBatch(
    tx: Queryable,
    items: CreateRequest[],
  ): Promise<{ outcomes: Outcome<CreateResult>[]; accepted: CreateRequest[]; entries: QueueEntry[] }> {
    const outcomes: Outcome<CreateResult>[] = new Array(items.length);
    const keyed = items.filter((i) => i.row.idempotency_key !== null);
    const earlier = new Map<
      string,
      { task_id: string; request_hash: string | null; status: string; created_at_ms: number }
    >();
    for (const t of await findByIdempotencyKeys(
      tx,
      keyed.map((i) => ({ account_id: i.row.account_id, key: i.row.idempotency_key as string })),
    ))
      earlier.set(`${t.account_id}/${t.idempotency_key}`, t);

    const sizes = await blobSizes(tx, [...new Set(items.flatMap((i) => (i.inputBlob ? [i.inputBlob] : [])))]);
    // Escrow's row is locked with the customers', in one sorted order, as settlement locks them:
    // two transactions that take the same rows in the same order never deadlock. CT rows first;
    // IT rows only when some task holds IT (fee_pct_ct below 100).
    const payers = [...new Set([SYSTEM_ACCOUNTS.escrow, ...items.map((i) => i.row.account_id)])];
    const balances = new Map([[CPC, await lockBalances(tx, payers, CPC)]]);
    const itPayers = [...new Set(items.filter((i) => i.hold.it > 0n).map((i) => i.row.account_id))];
    if (itPayers.length > 0)
      balances.set(IT, await lockBalances(tx, [SYSTEM_ACCOUNTS.escrow, ...itPayers].sort(), IT));
    const jobs: NewJobRow[] = [];
    const nowMs = this.clock.nowMs();
    const params = this.options.params();
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
      if (item.inputBlob !== null && !sizes.has(item.inputBlob)) {
        outcomes[i] = {
          ok: false,
          error: validationError([
            { path: '/payload/input_blob', message: 'no uploaded blob has this hash (POST /blobs first)' },
          ]),
        };
        return;
      }
      // Refused as an empty inline input is (payloadProblems): no work, nothing to bill.
      if (item.inputBlob !== null && sizes.get(item.inputBlob) === 0) {
        outcomes[i] = {
          ok: false,
          error: validationError([
            { path: '/payload/input_blob', message: 'must not be empty (the blob has 0 bytes)' },
          ]),
        };
        return;
      }
      if (!balances.get(CPC)?.has(row.account_id)) {
        outcomes[i] = {
          ok: false,
          error: new MarketError('unauthorized', 'the account of this API key no longer exists'),
        };
        return;
      }
      const short = shortfall(balances, spent, row, item);
      if (short) {
        outcomes[i] = { ok: false, error: short };
        return;
      }
      spend(spent, row, item.hold, 1n);
      const plan = planTask(
        row.challenge_type as WorkType,
        row.payload,
        item.inputBlob ? sizes.get(item.inputBlob) : undefined,
        {
          framesPerJob: this.options.framesPerJob,
        },
      );
      row.units = totalUnits(plan);
      row.jobs_total = plan.length;
      try {
        this.options.admit?.(row.account_id, row.challenge_type, row.units);
      } catch (err) {
        spend(spent, row, item.hold, -1n);
        outcomes[i] = { ok: false, error: err as Error };
        return;
      }
      for (const job of plan)
        jobs.push({
          job_id: randomUUID(),
          task_id: row.task_id,
          idx: job.index,
          challenge_type: row.challenge_type,
          slices: job.slices,
          units: job.units,
          queued_at_ms: nowMs,
          priority: row.priority,
          sort_key_ms: agedKey({ id: '', priority: row.priority, enqueuedAtMs: nowMs, seq: 0 }, params),
        });
      accepted.push(item);
      if (row.idempotency_key !== null) earlier.set(`${row.account_id}/${row.idempotency_key}`, row);
      outcomes[i] = { ok: true, value: { replayed: false, response: createResponse(row) } };
    });

    await insertTasks(
      tx,
      accepted.map((a) => a.row),
    );
    await insertJobs(tx, jobs);
    await insertTaskWebhooks(
      tx,
      accepted.flatMap((a) => (a.webhook ? [a.webhook] : [])),
    );
    await appendJournals(
      tx,
      accepted.map((a): Journal => ({
        journalId: randomUUID(),
        kind: 'escrow_hold',
        ref: a.row.task_id,
        postings: splitTransfer(a.row.account_id, SYSTEM_ACCOUNTS.escrow, a.row, a.hold),
      })),
      nowMs,
    );
    const tasks = new Map(accepted.map((a) => [a.row.task_id, a.row]));
    const entries = jobs.map((j): QueueEntry => {
      const task = tasks.get(j.task_id) as NewTaskRow;
      return {
        job_id: j.job_id,
        task_id: j.task_id,
        challenge_type: j.challenge_type,
        units: j.units,
        priority: task.priority,
        queued_at_ms: j.queued_at_ms,
        requirements: task.requirements,
        reward: task.reward,
        task_units: task.units,
        model_id: typeof task.payload.model_id === 'string' ? task.payload.model_id : null,
        deadline_ms: task.deadline_ms,
        fee_pct_ct: task.fee_pct_ct,
        excluded: [],
        runner_id: null,
      };
    });
    return { outcomes, accepted, entries };
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

  /** The jobs of a task, with why each queued one is waiting. */
  async jobs(
    principal: Principal,
    taskId: string,
    waiting: (jobId: string, challengeType: string) => string | undefined,
  ): Promise<TaskJobsResponse> {
    const task = await this.visibleTask(this.db, principal, taskId);
    const jobs = await jobsOfTask(this.db, task.task_id);
    return {
      task_id: task.task_id,
      jobs: jobs.map((j) => {
        const view: JobView = {
          job_id: j.job_id,
          index: j.idx,
          status: j.status,
          units: j.units,
          slices: j.slices.length,
          attempts: j.attempts,
          worker_address: j.worker_address,
          result_hash: j.result_hash,
          failure_reason: j.failure_reason,
        };
        if (j.verification)
          view.verification = {
            status: j.verification,
            verifiers: j.verifiers,
          };
        const reason = waiting(j.job_id, j.challenge_type);
        if (j.status === 'queued' && reason) view.waiting_reason = reason;
        if (j.output) view.output = j.output as JobView['output'];
        return view;
      }),
    };
  }

  /**
   * compute.job_cancel by the customer (or the operator on its behalf): the job's task is
   * cancelled and refunded, the provider is not penalised, and the cancellation is logged.
   */
  async cancelJob(principal: Principal, jobId: string): Promise<{ jobId: string; taskId: string }> {
    const job = await getJob(this.db, jobId);
    if (!job) throw new MarketError('not_found', `job ${jobId} not found`, { job_id: jobId });
    await this.visibleTask(this.db, principal, job.task_id).catch(() => {
      throw new MarketError('not_found', `job ${jobId} not found`, { job_id: jobId });
    });
    if (job.status === 'completed' || job.status === 'failed' || job.status === 'cancelled')
      throw new MarketError('already_done', `job already ${job.status}`, { status: job.status });
    await this.cancelByClient(principal, job.task_id, async (tx) => {
      const now = await getJob(tx, jobId);
      return new MarketError('already_done', `job already ${now?.status ?? 'finished'}`, {
        status: now?.status,
      });
    });
    return { jobId, taskId: job.task_id };
  }

  /** Cancels an open task and refunds what its escrow still holds. */
  async cancel(
    principal: Principal,
    taskId: string,
  ): Promise<{ task: TaskView; refunded: bigint; refund: CtIt }> {
    const closed = await this.cancelByClient(principal, taskId, async (tx) => {
      const now = await getTask(tx, taskId);
      return new MarketError('already_done', `task already ${now?.status ?? 'finished'}`, {
        status: now?.status,
      });
    });
    return {
      task: taskView({ ...closed, status: 'cancelled', escrow_held: '0', escrow_ct: '0' }),
      refunded: BigInt(closed.escrow_held),
      refund: splitEscrow(BigInt(closed.escrow_held), closed.fee_pct_ct),
    };
  }

  /**
   * A client cancel (spec "Cancellations"): the task closes and is refunded, every job it still
   * had is cancelled and appended to the cancellation log, running ones are stopped, and no
   * provider is penalised.
   */
  private async cancelByClient(
    principal: Principal,
    taskId: string,
    alreadyDone: (tx: Queryable) => Promise<MarketError>,
  ): Promise<TaskRow> {
    const { closed, stopped, cancelled } = await this.db.transaction(async (tx) => {
      const task = await this.visibleTask(tx, principal, taskId);
      const result = await closeTasks(tx, [task.task_id], 'cancelled', null, this.clock);
      if (result.closed.length === 0) throw await alreadyDone(tx);
      await logCancellations(
        tx,
        result.cancelled.map((j) => ({
          job_id: j.job_id,
          task_id: j.task_id,
          reason: 'client',
          actor: principal.kind,
          provider: j.worker_address,
        })),
        this.clock.nowMs(),
      );
      return result;
    });
    announceClosed(this.events, closed, stopped, 'cancelled', null);
    for (const j of cancelled) this.events.emit('job.cancelled', { jobId: j.job_id, reason: 'client' });
    return closed[0] as TaskRow;
  }

  /** Fails every open task whose deadline has passed and refunds it; returns how many. */
  async expireOverdue(limit = 1000): Promise<number> {
    const ids = await overdueTaskIds(this.db, this.clock.nowMs(), limit);
    if (ids.length === 0) return 0;
    const { closed, stopped, slashed, adjusted } = await this.db.transaction(async (tx) => {
      const result = await closeTasks(tx, ids, 'failed', 'deadline_exceeded', this.clock);
      // A provider whose bond was slashed for the missed deadline pays in reputation too.
      const changes = result.slashed.map((b) => ({ address: b.worker_address, outcome: 'failure' as const }));
      const adjusted = await recordOutcomes(tx, changes, this.clock.nowMs(), this.options.params());
      return { ...result, adjusted };
    });
    announceAdjusted(this.events, adjusted);
    announceClosed(this.events, closed, stopped, 'failed', 'deadline_exceeded', slashed);
    return closed.length;
  }

  /** Waits until every create submitted so far has committed (tests, shutdown). */
  flushed(): Promise<void> {
    return this.creates.flushed();
  }

  private async visibleTask(q: Queryable, principal: Principal, taskId: string): Promise<TaskRow> {
    return visible(principal, taskId, await getTask(q, taskId));
  }
}

export interface ClosedTasks {
  closed: TaskRow[];
  /** Jobs that were running on workers, who must now be told to stop. */
  stopped: { job_id: string; worker_address: string | null }[];
  /** Every job the tasks still had open, now cancelled. */
  cancelled: { job_id: string; task_id: string; worker_address: string | null }[];
  /** SLA bonds slashed because the deadline passed while these jobs ran. */
  slashed: TakenBond[];
}

/** Closes open tasks (cancelled or failed), refunds their escrow, and cancels their open jobs. */
export async function closeTasks(
  tx: Queryable,
  ids: string[],
  to: 'cancelled' | 'failed',
  reason: string | null,
  clock: Clock,
): Promise<ClosedTasks> {
  const now = clock.nowMs();
  const closed = await closeOpenTasks(tx, ids, to, reason, now);
  await appendJournals(
    tx,
    closed
      .filter((t) => BigInt(t.escrow_held) > 0n)
      .map((t) => ({
        journalId: randomUUID(),
        kind: 'escrow_refund' as const,
        ref: t.task_id,
        postings: splitTransfer(
          SYSTEM_ACCOUNTS.escrow,
          t.account_id,
          t,
          splitEscrow(BigInt(t.escrow_held), t.fee_pct_ct),
        ),
      })),
    now,
  );
  const cancelled = await cancelJobsOfTasks(
    tx,
    closed.map((t) => t.task_id),
    now,
  );
  // Bonds of jobs that were running: slashed when the deadline passed on them (penalize_sla),
  // returned for any other close (the client cancelled, another job failed the task).
  const running = cancelled.filter((j) => j.worker_address !== null).map((j) => j.job_id);
  const slashed =
    reason === 'deadline_exceeded'
      ? await slashBonds(tx, running, now)
      : await returnBonds(tx, running, now).then(() => []);
  return { closed, stopped: cancelled.filter((j) => j.worker_address !== null), cancelled, slashed };
}

/** Tells subscribers, after the commit, which tasks closed and which running jobs to stop. */
export function announceClosed(
  events: MarketEventBus,
  closed: readonly TaskRow[],
  stopped: ClosedTasks['stopped'],
  status: 'cancelled' | 'failed',
  reason: string | null,
  slashed: readonly TakenBond[] = [],
): void {
  for (const t of closed) events.emit('task.closed', { taskId: t.task_id, status, reason });
  for (const b of slashed)
    events.emit('sla.slashed', {
      jobId: b.job_id,
      provider: b.worker_address,
      bond: BigInt(b.bond),
      cause: 'deadline',
    });
  for (const j of stopped)
    if (j.worker_address)
      events.emit('job.stopped', { jobId: j.job_id, worker: j.worker_address, reason: reason ?? status });
}

/** A customer sees only its own tasks: another's task is as unknown as a missing one. */
function visible(principal: Principal, taskId: string, row: TaskRow | undefined): TaskRow {
  if (!row || (principal.kind === 'customer' && row.account_id !== principal.accountId))
    throw new MarketError('not_found', `task ${taskId} not found`, { task_id: taskId });
  return row;
}

function createResponse(row: { task_id: string; status: string; created_at_ms: number }): CreateTaskResponse {
  return {
    task_id: row.task_id,
    status: row.status as CreateTaskResponse['status'],
    created_at: secondsOf(row.created_at_ms),
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

type LockedBalances = Map<string, Map<string, { amount: string; credit_limit: string }>>;

/** Adds (sign 1) or takes back (sign -1) a hold from what the batch has spent per account and asset. */
function spend(spent: Map<string, bigint>, row: NewTaskRow, hold: CtIt, sign: 1n | -1n): void {
  for (const [asset, amount] of byAsset(row, hold)) {
    const key = `${row.account_id}/${asset}`;
    spent.set(key, (spent.get(key) ?? 0n) + sign * amount);
  }
}

/**
 * The insufficient_funds refusal of a task whose hold exceeds what its buyer has left in either
 * asset (balance plus credit, minus what earlier tasks of the batch hold), or undefined: the
 * domain's holdEscrow rule over what is available.
 */
function shortfall(
  balances: LockedBalances,
  spent: Map<string, bigint>,
  row: NewTaskRow,
  item: CreateRequest,
): MarketError | undefined {
  const available = (asset: string): bigint => {
    const balance = balances.get(asset)?.get(row.account_id);
    const held = spent.get(`${row.account_id}/${asset}`) ?? 0n;
    const left = balance ? BigInt(balance.amount) + BigInt(balance.credit_limit) - held : 0n;
    return left < 0n ? 0n : left;
  };
  const have = { ct: available(row.asset), it: available(row.it_asset) };
  const hold = holdEscrow(have, item.reward, row.fee_pct_ct);
  if (hold.ok) return undefined;
  const [asset, need, left] =
    hold.missing.ct > 0n ? [row.asset, hold.held.ct, have.ct] : [row.it_asset, hold.held.it, have.it];
  const shown = formatAmount(left);
  return new MarketError(
    'insufficient_funds',
    row.fee_pct_ct !== 100
      ? `reward ${formatAmount(item.reward)} at fee_pct_ct ${row.fee_pct_ct} needs ${formatAmount(need)} ${asset}, but only ${shown} ${asset} is available`
      : `reward ${formatAmount(item.reward)} exceeds the available ${shown}`,
    { reward: formatAmount(item.reward), available: shown, asset, needed: formatAmount(need) },
  );
}

export function taskView(row: TaskRow): TaskView {
  const view: TaskView = {
    task_id: row.task_id,
    status: row.status,
    challenge_type: row.challenge_type as ChallengeType,
    payload: row.payload,
    reward: formatAmount(BigInt(row.reward)),
    fee_pct_ct: row.fee_pct_ct,
    escrow: ctIt(splitEscrow(BigInt(row.escrow_held), row.fee_pct_ct)),
    deadline: row.deadline_ms === null ? null : secondsOf(row.deadline_ms),
    created_at: secondsOf(row.created_at_ms),
    updated_at: secondsOf(row.updated_at_ms),
    units: row.units,
    priority: row.priority,
    progress: { jobs_done: row.jobs_done, jobs_total: row.jobs_total },
  };
  if (row.requirements) view.requirements = row.requirements;
  if (row.failure_reason) view.failure_reason = row.failure_reason;
  if (row.status === 'completed') view.verified = row.verified === true;
  if (row.status === 'completed' && row.result_hash && row.worker_address && row.completed_at_ms !== null)
    view.result = {
      result_hash: row.result_hash,
      worker_address: row.worker_address,
      completed_at: secondsOf(row.completed_at_ms),
    };
  return view;
}
