// The shapes of the market's HTTP API, as plain TypeScript for the published client
// (`taskmarket/client`): no schema library is needed to use them. They are the static types of
// the schemas the server validates and documents with (src/domain/schemas); test/client/
// api-types.test.ts fails to compile when the two drift apart.

export type ChallengeType = 'inference' | 'training' | 'rendering' | 'synthetic' | 'transcode' | 'gpuhash';
export type TaskStatus = 'pending' | 'in_progress' | 'completed' | 'failed' | 'cancelled';
export type JobStatus = 'queued' | 'leased' | 'completed' | 'failed' | 'cancelled';
export type Priority = 'low' | 'normal' | 'high';
/** CPC, the consumer token, and IT, the industrial token. */
export type Asset = 'CPC' | 'IT';
/** A decimal amount as a string, e.g. "10.0": money never travels as a JSON number. */
export type Amount = string;

export interface Requirements {
  cpu_cores?: number;
  gpu_model?: string;
  gpu_count?: number;
  gpu_memory_mb?: number;
  accelerator?: 'TPU' | 'FPGA';
  accelerator_memory_mb?: number;
  frameworks?: string[];
}

export interface Capability {
  cpu_cores: number;
  memory_mb?: number;
  gpu_model: string | null;
  gpu_count: number;
  gpu_memory_mb: number;
  accelerator: 'TPU' | 'FPGA' | null;
  accelerator_memory_mb: number;
  frameworks: string[];
  challenge_types: ChallengeType[];
  models: string[];
  /** Per challenge type, the runner that does it: only a provider with the same runner id re-runs its jobs to check them. */
  runners?: Partial<Record<ChallengeType, RunnerInfo>>;
}

export interface RunnerInfo {
  id: string;
  /** The same job always gives the same result. */
  deterministic: boolean;
}

export type VerificationStatus = 'pending' | 'verified' | 'sampled_out' | 'disputed' | 'failed';

export interface CreateTaskBody {
  challenge_type: ChallengeType;
  /** The work, by type (see the OpenAPI document's `create <type> task` schemas). */
  payload: Record<string, unknown>;
  reward: Amount;
  fee_pct_ct?: number;
  deadline?: number;
  requirements?: Requirements;
  priority?: Priority;
  /** Told (signed POST) when the task ends; needs webhook_secret. */
  webhook_url?: string;
  webhook_secret?: string;
}

export interface CreateTaskResponse {
  task_id: string;
  status: TaskStatus;
  created_at: number;
}

export interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

export interface CreateTasksResponse {
  results: (CreateTaskResponse | ErrorBody)[];
  created: number;
  refused: number;
}

export interface TaskView {
  task_id: string;
  status: TaskStatus;
  challenge_type: ChallengeType;
  payload: Record<string, unknown>;
  reward: Amount;
  fee_pct_ct: number;
  escrow: { ct: Amount; it: Amount };
  deadline: number | null;
  created_at: number;
  updated_at: number;
  failure_reason?: string;
  result?: { result_hash: string; worker_address: string; completed_at: number };
  requirements?: Requirements;
  units: number;
  priority: Priority;
  progress: { jobs_done: number; jobs_total: number };
  waiting_reason?: string;
  /** Completed tasks only: every job was checked in full (true), or some result was accepted unchecked. */
  verified?: boolean;
}

export interface JobView {
  job_id: string;
  index: number;
  status: JobStatus;
  units: number;
  slices: number;
  attempts: number;
  worker_address: string | null;
  result_hash: string | null;
  failure_reason: string | null;
  waiting_reason?: string;
  /** How the job's result was checked, once it came in. */
  verification?: { status: VerificationStatus; verifiers: string[] };
  output?: {
    text?: string;
    artifacts?: { name: string; blob: string; size: number }[];
  };
}

export interface TaskJobsResponse {
  task_id: string;
  jobs: JobView[];
}

export interface ListTasksResponse {
  tasks: { task_id: string; challenge_type: ChallengeType; status: TaskStatus; reward: Amount }[];
  total: number;
  limit: number;
  offset: number;
}

export interface CancelTaskResponse {
  task_id: string;
  status: 'cancelled';
  refunded: Amount;
  refund: { ct: Amount; it: Amount };
}

export interface DisputeBody {
  /** One job of the task (absent: every job of it the market did not check). */
  job_id?: string;
  reason: string;
}

export interface DisputeView {
  dispute_id: string;
  job_id: string;
  task_id: string;
  provider: string;
  /** audit: re-run by independent providers; recorded: nothing can re-derive the work. */
  kind: 'audit' | 'recorded';
  status: 'open' | 'upheld' | 'rejected' | 'unresolved' | 'recorded';
  reason: string;
  created_at_ms: number;
  resolved_at_ms: number | null;
}

export interface DisputeList {
  task_id: string;
  disputes: DisputeView[];
}

/** An ended task and its jobs with their outputs: what `waitForTask` and the `result` event carry. */
export interface TaskOutcome {
  task: TaskView;
  jobs: JobView[];
}

/** The events of GET /tasks/{id}/events: `type` is the SSE event name, `data` its JSON. */
export type TaskEvent =
  | { type: 'status'; data: TaskView }
  | {
      type: 'job';
      data: {
        task_id: string;
        job_id: string;
        status: 'leased' | 'completed' | 'failed';
        worker_address: string | null;
        reason?: string;
      };
    }
  | { type: 'progress'; data: { task_id: string; job_id: string; slices_done: number; slices_total: number } }
  | { type: 'result'; data: TaskOutcome };

/** An uploaded blob: its BLAKE3 hash (what a task's `input_blob` names) and size. */
export interface BlobRef {
  hash: string;
  size: number;
}

export interface OfferView {
  offer_id: string;
  provider: string;
  units: number;
  price_per_unit: Amount;
  fee_pct_ct: number;
  capability: Capability;
  created_at: number;
  /** claimed: as the provider says; verified: past probation with measured work; implausible: GPUs claimed, CPU speed measured. */
  hardware: 'claimed' | 'verified' | 'implausible';
  /** Its results are all checked and it counts for no capacity yet. */
  probation: boolean;
  measured_units_per_s: number | null;
  credited_units: number;
}

export interface OfferList {
  offers: OfferView[];
  total: number;
  limit: number;
  offset: number;
}

export interface ProviderView {
  address: string;
  account_id: string | null;
  connected: boolean;
  first_seen: number | null;
  last_seen: number | null;
  balances: { asset: string; balance: string }[];
  earned: { asset: string; amount: Amount }[];
  reputation: { score: number; multiplier_ppm: number };
  jobs: { completed: number; failed: number; lease_expiries: number; running: number };
  recent_jobs: {
    job_id: string;
    task_id: string;
    challenge_type: string;
    status: JobStatus;
    units: number;
    started_at: number | null;
    finished_at: number | null;
    failure_reason: string | null;
  }[];
}

export interface CreateAccountBody {
  name: string;
  credit_limit?: Amount;
}

export interface AccountCreated {
  account_id: string;
  name: string;
  /** Shown once; the market stores only its hash. */
  api_key: string;
  created_at: number;
}

interface Holding {
  asset: string;
  balance: string;
  escrow: Amount;
  credit_limit: Amount;
  available: Amount;
}

export interface AccountView extends Holding {
  account_id: string;
  name: string;
  balances: Holding[];
  created_at: number;
}

export interface LedgerReport {
  ok: boolean;
  assets: { asset: string; funded: Amount; held_in_escrow: Amount; burned: Amount }[];
  violations: string[];
}
