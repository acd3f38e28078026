-- Settlement: the price each job was leased at, providers' ledger accounts (by chain address),
-- receipts with their idempotency key as the primary key (a replay inserts nothing), the
-- settlement mode, and an archive of settlement failures.

ALTER TABLE jobs ADD COLUMN quote_price numeric(78, 0);

ALTER TABLE accounts ADD COLUMN address text UNIQUE;

CREATE TABLE receipts (
  idempotency_key text PRIMARY KEY,
  job_id uuid NOT NULL,
  task_id uuid NOT NULL,
  body text NOT NULL,
  amount numeric(78, 0) NOT NULL,
  mode text NOT NULL,
  applied boolean NOT NULL,
  created_at bigint NOT NULL
);

CREATE TABLE settlement_state (
  id int PRIMARY KEY CHECK (id = 1),
  state jsonb NOT NULL,
  updated_at bigint NOT NULL
);

CREATE TABLE settlement_failures (
  failure_id bigserial PRIMARY KEY,
  task_id uuid NOT NULL,
  reason text NOT NULL,
  detail jsonb NOT NULL,
  created_at bigint NOT NULL
);
