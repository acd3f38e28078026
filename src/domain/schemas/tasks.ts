// Task request and response shapes, exactly as spec/task-market.md shows them, plus the
// fields a customer needs to follow a task (reward, deadline, failure reason).

import { VERIFICATION_STATUSES } from '../verification.js';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TASK_STATUSES } from '../task-state.js';
import { Amount, ErrorBody, Nullable, Strict, StringEnum, UnixSeconds, Uuid } from './common.js';
import { PRIORITIES, type Priority } from '../priority.js';
import { Requirements } from './capability.js';
import { CHALLENGE_TYPES, PAYLOAD_SCHEMAS, type ChallengeType } from './payloads.js';
import { WEBHOOK_SECRET_MAX, WEBHOOK_SECRET_MIN, WEBHOOK_URL_MAX } from '../webhook.js';

const ChallengeTypeSchema = StringEnum(CHALLENGE_TYPES, { description: 'the kind of work' });
const TaskStatusSchema = StringEnum(TASK_STATUSES);

function createBranch<T extends ChallengeType>(type: T, payload: TSchema) {
  return Strict(
    {
      challenge_type: Type.Literal(type),
      payload,
      reward: Amount,
      fee_pct_ct: Type.Optional(FeePctCt),
      deadline: Type.Optional(UnixSeconds),
      requirements: Type.Optional(Requirements),
      priority: Type.Optional(
        StringEnum(PRIORITIES, { description: 'scheduling priority; waiting raises it (aging)' }),
      ),
      webhook_url: Type.Optional(WebhookUrl),
      webhook_secret: Type.Optional(WebhookSecret),
    },
    { title: `create ${type} task` },
  );
}

const WebhookUrl = Type.String({
  minLength: 1,
  maxLength: WEBHOOK_URL_MAX,
  description:
    'an http(s) URL told (POST, JSON) when the task ends; signed with webhook_secret, retried with backoff until it answers 2xx',
});
const WebhookSecret = Type.String({
  minLength: WEBHOOK_SECRET_MIN,
  maxLength: WEBHOOK_SECRET_MAX,
  description:
    'the key of the TaskMarket-Signature header (HMAC-SHA256 over "<t>.<body>"); required with webhook_url',
});

/** Which part of the reward is paid in the consumer token (CPC); the rest is industrial token (IT). */
const FeePctCt = Type.Integer({
  minimum: 0,
  maximum: 100,
  description:
    'the consumer-token (CPC) percentage of the reward; the rest is escrowed and paid in the industrial token (IT). The task runs only on offers with the same fee_pct_ct. Default 100',
});

const branches = CHALLENGE_TYPES.map((t) => createBranch(t, PAYLOAD_SCHEMAS[t]));

/**
 * One body schema, discriminated by challenge_type: Ajv checks only the branch the type names,
 * so a bad payload gets errors about that payload, and an unknown type one clear error.
 */
export const CreateTaskBody = Type.Unsafe<{
  challenge_type: ChallengeType;
  payload: Record<string, unknown>;
  reward: string;
  fee_pct_ct?: number;
  deadline?: number;
  requirements?: Requirements;
  priority?: Priority;
  webhook_url?: string;
  webhook_secret?: string;
}>({
  type: 'object',
  required: ['challenge_type'],
  oneOf: branches,
  discriminator: { propertyName: 'challenge_type' },
});
export type CreateTaskBody = Static<typeof CreateTaskBody>;

export const CreateTaskResponse = Type.Object({
  task_id: Uuid,
  status: TaskStatusSchema,
  created_at: UnixSeconds,
});
export type CreateTaskResponse = Static<typeof CreateTaskResponse>;

/** The most tasks one bulk create may carry. */
export const MAX_BULK_TASKS = 1000;

/** POST /tasks/batch: many tasks in one request, each created (or refused) on its own. */
export const CreateTasksBody = Strict({
  tasks: Type.Array(CreateTaskBody, { minItems: 1, maxItems: MAX_BULK_TASKS }),
});
export type CreateTasksBody = Static<typeof CreateTasksBody>;

export const CreateTasksResponse = Type.Object({
  /** One entry per task of the request, in its order: the created task, or why it was refused. */
  results: Type.Array(Type.Union([CreateTaskResponse, ErrorBody])),
  created: Type.Integer({ minimum: 0 }),
  refused: Type.Integer({ minimum: 0 }),
});
export type CreateTasksResponse = Static<typeof CreateTasksResponse>;

export const TaskResult = Type.Object({
  result_hash: Type.String(),
  worker_address: Type.String(),
  completed_at: UnixSeconds,
});

export const TaskView = Type.Object({
  task_id: Uuid,
  status: TaskStatusSchema,
  challenge_type: ChallengeTypeSchema,
  payload: Type.Record(Type.String(), Type.Unknown()),
  reward: Amount,
  fee_pct_ct: Type.Integer({ description: 'the CPC percentage of the reward; the rest is IT' }),
  escrow: Type.Object(
    { ct: Amount, it: Amount },
    { description: 'what the escrow holds for the task now, in CPC (ct) and IT (it); zero once it ends' },
  ),
  deadline: Nullable(UnixSeconds),
  created_at: UnixSeconds,
  updated_at: UnixSeconds,
  failure_reason: Type.Optional(Type.String()),
  result: Type.Optional(TaskResult),
  requirements: Type.Optional(Requirements),
  units: Type.Integer({ description: 'compute units the task is metered by' }),
  priority: StringEnum(PRIORITIES),
  progress: Type.Object({ jobs_done: Type.Integer(), jobs_total: Type.Integer() }),
  verified: Type.Optional(
    Type.Boolean({
      description:
        'completed tasks only: true when every job was checked in full (re-run elsewhere or re-computed by the market); false when some result was accepted unchecked (not drawn, or not reproducible)',
    }),
  ),
  waiting_reason: Type.Optional(
    Type.String({
      description:
        'why the task has queued work not yet running (capability_mismatch, insufficient_gpu_memory, accelerator_missing, reputation_failure, price_above_reward, payment_mismatch, no_capacity, no_provider, deferred)',
    }),
  ),
});
export type TaskView = Static<typeof TaskView>;

export const JobView = Type.Object({
  job_id: Uuid,
  index: Type.Integer(),
  status: StringEnum(['queued', 'leased', 'completed', 'failed', 'cancelled'] as const),
  units: Type.Integer(),
  slices: Type.Integer(),
  attempts: Type.Integer(),
  worker_address: Nullable(Type.String()),
  result_hash: Nullable(Type.String()),
  failure_reason: Nullable(Type.String()),
  waiting_reason: Type.Optional(Type.String({ description: 'why a queued job is not running yet' })),
  verification: Type.Optional(
    Type.Object(
      {
        status: StringEnum(VERIFICATION_STATUSES),
        verifiers: Type.Array(Type.String(), {
          description:
            'providers whose results agreed with the accepted one, or "market" when the market re-computed it',
        }),
      },
      {
        description: 'how the job\'s result was checked, once it came in (docs/decisions.md "Verification")',
      },
    ),
  ),
  output: Type.Optional(
    Type.Object({
      text: Type.Optional(Type.String()),
      artifacts: Type.Optional(
        Type.Array(Type.Object({ name: Type.String(), blob: Type.String(), size: Type.Integer() })),
      ),
    }),
  ),
});
export type JobView = Static<typeof JobView>;

export const TaskJobsResponse = Type.Object({ task_id: Uuid, jobs: Type.Array(JobView) });
export type TaskJobsResponse = Static<typeof TaskJobsResponse>;

export const TaskIdParams = Strict({ task_id: Uuid });

export const ListTasksQuery = Strict({
  status: Type.Optional(TaskStatusSchema),
  challenge_type: Type.Optional(ChallengeTypeSchema),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 20 }),
  offset: Type.Integer({ minimum: 0, maximum: 1_000_000_000, default: 0 }),
});
export type ListTasksQuery = Static<typeof ListTasksQuery>;

export const TaskSummary = Type.Object({
  task_id: Uuid,
  challenge_type: ChallengeTypeSchema,
  status: TaskStatusSchema,
  reward: Amount,
});

export const ListTasksResponse = Type.Object({
  tasks: Type.Array(TaskSummary),
  total: Type.Integer(),
  limit: Type.Integer(),
  offset: Type.Integer(),
});
export type ListTasksResponse = Static<typeof ListTasksResponse>;

export const CancelTaskResponse = Type.Object({
  task_id: Uuid,
  status: StringEnum(['cancelled'] as const),
  refunded: Amount,
  refund: Type.Object({ ct: Amount, it: Amount }, { description: 'the refund in CPC (ct) and IT (it)' }),
});
export type CancelTaskResponse = Static<typeof CancelTaskResponse>;

export const DisputeBody = Strict({
  job_id: Type.Optional(Uuid),
  reason: Type.String({ minLength: 1, maxLength: 1000, description: 'what is wrong with the result' }),
});
export type DisputeBody = Static<typeof DisputeBody>;

export const DisputeView = Type.Object({
  dispute_id: Uuid,
  job_id: Uuid,
  task_id: Uuid,
  provider: Type.String(),
  kind: StringEnum(['audit', 'recorded'] as const, {
    description: 'audit: the result is re-run by an independent provider; recorded: nothing can re-derive it',
  }),
  status: StringEnum(['open', 'upheld', 'rejected', 'unresolved', 'recorded'] as const),
  reason: Type.String(),
  created_at_ms: Type.Integer(),
  resolved_at_ms: Type.Union([Type.Integer(), Type.Null()]),
});
export type DisputeView = Static<typeof DisputeView>;

export const DisputeList = Type.Object({ task_id: Uuid, disputes: Type.Array(DisputeView) });
export type DisputeList = Static<typeof DisputeList>;
