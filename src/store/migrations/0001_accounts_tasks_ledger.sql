-- Accounts, the double-entry ledger and tasks.
-- Money columns are numeric(78,0): integer base units (CPC has 18 decimals), never floats.

CREATE TABLE accounts (
  account_id uuid PRIMARY KEY,
  name text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('customer', 'provider', 'system', 'external')),
  api_key_hash text UNIQUE,
  created_at bigint NOT NULL
);

-- One row per account and asset: the materialised sum of that account's ledger entries.
CREATE TABLE balances (
  account_id uuid NOT NULL REFERENCES accounts,
  asset text NOT NULL,
  amount numeric(78, 0) NOT NULL DEFAULT 0,
  credit_limit numeric(78, 0) NOT NULL DEFAULT 0 CHECK (credit_limit >= 0),
  PRIMARY KEY (account_id, asset)
);

-- Every movement is a journal: entries sharing a journal_id sum to zero per asset.
CREATE TABLE ledger_entries (
  entry_id bigserial PRIMARY KEY,
  journal_id uuid NOT NULL,
  kind text NOT NULL,
  ref text,
  account_id uuid NOT NULL REFERENCES accounts,
  asset text NOT NULL,
  amount numeric(78, 0) NOT NULL,
  created_at bigint NOT NULL
);

CREATE INDEX ledger_entries_journal ON ledger_entries (journal_id);

CREATE INDEX ledger_entries_account ON ledger_entries (account_id, entry_id);

-- The market's own accounts. `external` is the world outside the ledger: funding moves money
-- from it, so its balance is minus everything ever funded and all balances sum to zero.
INSERT INTO accounts (account_id, name, kind, created_at) VALUES
  ('00000000-0000-0000-0000-000000000001', 'escrow', 'system', 0),
  ('00000000-0000-0000-0000-000000000002', 'external', 'external', 0),
  ('00000000-0000-0000-0000-000000000003', 'burn', 'system', 0),
  ('00000000-0000-0000-0000-000000000004', 'validators', 'system', 0),
  ('00000000-0000-0000-0000-000000000005', 'treasury', 'system', 0);

INSERT INTO balances (account_id, asset)
SELECT account_id, 'CPC' FROM accounts;

CREATE TABLE tasks (
  task_id uuid PRIMARY KEY,
  seq bigserial NOT NULL UNIQUE,
  account_id uuid NOT NULL REFERENCES accounts,
  challenge_type text NOT NULL,
  payload jsonb NOT NULL,
  asset text NOT NULL DEFAULT 'CPC',
  reward numeric(78, 0) NOT NULL CHECK (reward > 0),
  escrow_held numeric(78, 0) NOT NULL CHECK (escrow_held >= 0),
  deadline bigint,
  status text NOT NULL CHECK (status IN ('pending', 'in_progress', 'completed', 'failed', 'cancelled')),
  failure_reason text,
  result_hash text,
  worker_address text,
  completed_at bigint,
  idempotency_key text,
  request_hash text,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  UNIQUE (account_id, idempotency_key)
);

CREATE INDEX tasks_account_seq ON tasks (account_id, seq);

CREATE INDEX tasks_status_seq ON tasks (status, seq);

CREATE INDEX tasks_open_deadline ON tasks (deadline) WHERE status IN ('pending', 'in_progress') AND deadline IS NOT NULL;
