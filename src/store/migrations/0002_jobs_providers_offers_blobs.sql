-- Work: a task splits into jobs (matched to one provider each); providers connect as workers,
-- post offers, and hold leases on jobs. Blobs hold task inputs and job outputs by BLAKE3 hash.

ALTER TABLE tasks ADD COLUMN requirements jsonb;

ALTER TABLE tasks ADD COLUMN units bigint NOT NULL DEFAULT 0;

ALTER TABLE tasks ADD COLUMN jobs_total int NOT NULL DEFAULT 0;

ALTER TABLE tasks ADD COLUMN jobs_done int NOT NULL DEFAULT 0;

CREATE TABLE jobs (
  job_id uuid PRIMARY KEY,
  task_id uuid NOT NULL REFERENCES tasks,
  idx int NOT NULL,
  seq bigserial NOT NULL,
  challenge_type text NOT NULL,
  slices jsonb NOT NULL,
  units bigint NOT NULL CHECK (units > 0),
  status text NOT NULL CHECK (status IN ('queued', 'leased', 'completed', 'failed', 'cancelled')),
  attempts int NOT NULL DEFAULT 0,
  worker_address text,
  lease_expires_at bigint,
  result_hash text,
  proof jsonb,
  output jsonb,
  failure_reason text,
  queued_at bigint NOT NULL,
  started_at bigint,
  finished_at bigint,
  UNIQUE (task_id, idx)
);

CREATE INDEX jobs_queued ON jobs (seq) WHERE status = 'queued';

CREATE INDEX jobs_leased ON jobs (lease_expires_at) WHERE status = 'leased';

CREATE TABLE providers (
  address text PRIMARY KEY,
  public_key text NOT NULL,
  capability jsonb NOT NULL,
  jobs_completed bigint NOT NULL DEFAULT 0,
  jobs_failed bigint NOT NULL DEFAULT 0,
  lease_expiries bigint NOT NULL DEFAULT 0,
  first_seen bigint NOT NULL,
  last_seen bigint NOT NULL
);

CREATE TABLE offers (
  offer_id uuid PRIMARY KEY,
  provider_address text NOT NULL REFERENCES providers,
  units bigint NOT NULL CHECK (units > 0),
  price_per_unit numeric(78, 0) NOT NULL CHECK (price_per_unit >= 0),
  fee_pct_ct int NOT NULL CHECK (fee_pct_ct BETWEEN 0 AND 100),
  capability jsonb NOT NULL,
  status text NOT NULL CHECK (status IN ('open', 'closed')),
  created_at bigint NOT NULL,
  closed_at bigint
);

CREATE INDEX offers_open ON offers (provider_address) WHERE status = 'open';

CREATE TABLE blobs (
  hash text PRIMARY KEY,
  size bigint NOT NULL,
  data bytea NOT NULL,
  owner_account uuid REFERENCES accounts,
  created_at bigint NOT NULL
);
