// Task routes, exactly as spec/task-market.md shows them.

import type { FastifyInstance } from 'fastify';
import { ErrorBody } from '../../domain/schemas/common.js';
import {
  CancelTaskResponse,
  CreateTaskBody,
  CreateTaskResponse,
  CreateTasksBody,
  CreateTasksResponse,
  DisputeBody,
  DisputeList,
  ListTasksQuery,
  ListTasksResponse,
  TaskIdParams,
  TaskJobsResponse,
  TaskView,
} from '../../domain/schemas/tasks.js';
import { ctIt } from '../../domain/escrow-split.js';
import { formatAmount } from '../../domain/money.js';
import { MarketError, validationError } from '../../domain/errors.js';
import type { Market } from '../../market/market.js';
import { toMarketError } from '../errors.js';
import { principalOf } from '../guard.js';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
const errors = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody } as const;

export function taskRoutes(app: FastifyInstance, market: Market): void {
  app.post<{ Body: CreateTaskBody }>(
    '/tasks',
    {
      config: { access: 'customer' },
      schema: {
        summary: 'Create a task; its reward moves into escrow',
        tags: ['tasks'],
        headers: {
          type: 'object',
          properties: {
            'idempotency-key': {
              type: 'string',
              description: 'retries with the same key return the first task',
            },
          },
        },
        body: CreateTaskBody,
        response: { 201: CreateTaskResponse, 402: ErrorBody, 409: ErrorBody, ...errors },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const key = request.headers['idempotency-key'];
      if (key !== undefined && (typeof key !== 'string' || !IDEMPOTENCY_KEY.test(key)))
        throw validationError([
          { path: 'header:Idempotency-Key', message: 'must be 1 to 255 printable ASCII characters' },
        ]);
      const result = await market.tasks.create(principal, request.body, key);
      if (result.replayed) void reply.header('idempotent-replayed', 'true');
      return reply.status(201).send(result.response);
    },
  );

  app.post<{ Body: CreateTasksBody }>(
    '/tasks/batch',
    {
      config: { access: 'customer' },
      schema: {
        summary: 'Create many tasks in one request; each is held in escrow or refused on its own',
        tags: ['tasks'],
        body: CreateTasksBody,
        response: { 200: CreateTasksResponse, ...errors },
      },
    },
    async (request) => {
      const settled = await market.tasks.createMany(principalOf(request), request.body.tasks);
      const results = settled.map((r) => {
        if (r.status === 'fulfilled') return r.value.response;
        const e = toMarketError(r.reason);
        if (e.code === 'internal') request.log.error({ err: r.reason }, 'a task of a bulk create failed');
        return { error: { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) } };
      });
      const created = settled.filter((r) => r.status === 'fulfilled').length;
      return { results, created, refused: settled.length - created };
    },
  );

  app.get<{ Params: { task_id: string } }>(
    '/tasks/:task_id',
    {
      config: { access: 'any' },
      schema: {
        summary: 'Get a task, with its result once completed',
        tags: ['tasks'],
        params: TaskIdParams,
        response: { 200: TaskView, ...errors },
      },
    },
    async (request) => {
      const task = await market.tasks.get(principalOf(request), request.params.task_id);
      const reason = market.dispatcher.taskWaitingReason(task.task_id, task.challenge_type);
      return reason && (task.status === 'pending' || task.status === 'in_progress')
        ? { ...task, waiting_reason: reason }
        : task;
    },
  );

  app.get<{ Params: { task_id: string } }>(
    '/tasks/:task_id/jobs',
    {
      config: { access: 'any' },
      schema: {
        summary: 'The jobs of a task: status, worker, result, outputs, and why a queued job waits',
        tags: ['tasks'],
        params: TaskIdParams,
        response: { 200: TaskJobsResponse, ...errors },
      },
    },
    async (request) =>
      market.tasks.jobs(principalOf(request), request.params.task_id, (jobId, type) =>
        market.dispatcher.waitingReason(jobId, type),
      ),
  );

  app.get<{ Querystring: ListTasksQuery }>(
    '/tasks',
    {
      config: { access: 'any' },
      schema: {
        summary: 'List tasks, newest first',
        tags: ['tasks'],
        querystring: ListTasksQuery,
        response: { 200: ListTasksResponse, ...errors },
      },
    },
    async (request) => market.tasks.list(principalOf(request), request.query),
  );

  app.post<{ Params: { task_id: string } }>(
    '/tasks/:task_id/cancel',
    {
      config: { access: 'any' },
      schema: {
        summary: 'Cancel an open task and refund its escrow',
        tags: ['tasks'],
        params: TaskIdParams,
        response: { 200: CancelTaskResponse, 409: ErrorBody, ...errors },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const { task, refunded, refund } = await market.tasks.cancel(principal, request.params.task_id);
      return {
        task_id: task.task_id,
        status: 'cancelled' as const,
        refunded: formatAmount(refunded),
        refund: ctIt(refund),
      };
    },
  );

  app.post<{ Params: { task_id: string }; Body: DisputeBody }>(
    '/tasks/:task_id/disputes',
    {
      config: { access: 'customer' },
      schema: {
        summary:
          'Dispute a completed task’s results the market did not check: re-run by an independent provider when the work can be re-derived, otherwise recorded against the provider',
        tags: ['tasks'],
        params: TaskIdParams,
        body: DisputeBody,
        response: { 201: DisputeList, 409: ErrorBody, ...errors },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const task = await market.tasks.get(principal, request.params.task_id);
      if (principal.kind !== 'customer')
        throw new MarketError('forbidden', 'disputes are opened by the task’s customer');
      const disputes = await market.dispatcher.disputes.open(principal.accountId, task.task_id, request.body);
      return reply.status(201).send({ task_id: task.task_id, disputes });
    },
  );

  app.get<{ Params: { task_id: string } }>(
    '/tasks/:task_id/disputes',
    {
      config: { access: 'any' },
      schema: {
        summary: 'The disputes of a task and their verdicts',
        tags: ['tasks'],
        params: TaskIdParams,
        response: { 200: DisputeList, ...errors },
      },
    },
    async (request) => {
      const task = await market.tasks.get(principalOf(request), request.params.task_id);
      return { task_id: task.task_id, disputes: await market.dispatcher.disputes.list(task.task_id) };
    },
  );
}
