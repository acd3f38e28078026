-- The scheduler: task priority with aging (a job's sort key is fixed when it is queued),
-- provider reputation, runtime-tunable parameters with an audit trail, and the cancellation
-- log kept for replay protection.

ALTER TABLE tasks ADD COLUMN priority text NOT NULL DEFAULT 'normal' CHECK (priority IN ('low', 'normal', 'high'));

ALTER TABLE jobs ADD COLUMN priority text NOT NULL DEFAULT 'normal';

ALTER TABLE jobs ADD COLUMN sort_key bigint NOT NULL DEFAULT 0;

DROP INDEX jobs_queued;

CREATE INDEX jobs_queued ON jobs (sort_key, seq) WHERE status = 'queued';

CREATE TABLE provider_reputation (
  address text PRIMARY KEY,
  score int NOT NULL CHECK (score BETWEEN -1000 AND 1000),
  epoch bigint NOT NULL,
  updated_at_ms bigint NOT NULL
);

CREATE TABLE scheduler_params (
  id int PRIMARY KEY CHECK (id = 1),
  params jsonb NOT NULL,
  updated_at bigint NOT NULL
);

CREATE TABLE params_audit (
  audit_id bigserial PRIMARY KEY,
  changed_at bigint NOT NULL,
  changed_by text NOT NULL,
  patch jsonb NOT NULL,
  params jsonb NOT NULL
);

CREATE TABLE cancellations (
  cancel_id bigserial PRIMARY KEY,
  job_id uuid NOT NULL UNIQUE,
  task_id uuid NOT NULL,
  reason text NOT NULL,
  actor text NOT NULL,
  provider text,
  created_at bigint NOT NULL
);
