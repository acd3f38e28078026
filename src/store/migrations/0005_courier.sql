-- The courier: the embedded dev chain's tables, the outbox of chain transactions to send, the
-- market's nonce sequence, and worker payouts waiting to be batched into TRANSFERs.

-- The embedded dev chain: blocks and the transactions submitted to it.
-- Integers only; amounts live inside the transaction JSON as decimal strings of base units.
CREATE TABLE chain_blocks (
  height bigint PRIMARY KEY CHECK (height >= 0),
  hash text NOT NULL UNIQUE,
  prev_hash text NOT NULL,
  block_time bigint NOT NULL,
  chain_id text NOT NULL,
  proposer_address text NOT NULL,
  round int NOT NULL DEFAULT 0,
  tx_root text NOT NULL,
  state_root text NOT NULL,
  compute_root text NOT NULL,
  gas_used bigint NOT NULL,
  gas_limit bigint NOT NULL,
  tx_count int NOT NULL
);

-- A submitted transaction is pending until a block takes it (height set). The hash is the key a
-- resubmission collides on; (sender, nonce) refuses a second, different transaction at a nonce.
CREATE TABLE chain_txs (
  tx_hash text PRIMARY KEY,
  seq bigserial NOT NULL UNIQUE,
  sender text NOT NULL,
  nonce bigint NOT NULL,
  tx_type text NOT NULL,
  body text NOT NULL,
  submitted_at bigint NOT NULL,
  height bigint REFERENCES chain_blocks (height),
  position int,
  UNIQUE (sender, nonce),
  CHECK ((height IS NULL) = (position IS NULL))
);

CREATE INDEX chain_txs_pending ON chain_txs (seq) WHERE height IS NULL;

CREATE INDEX chain_txs_block ON chain_txs (height, position);

-- Chain transactions to send, written in the same transaction as the state change that causes
-- them. dedup_key names the cause (result:<task_id>, payout:<batch>:<n>, bundle:<hash>:<sender>)
-- so a replayed cause adds nothing. An entry is queued as a draft (what to send); the courier
-- seals it (nonce, signed body, tx_hash) before its first send, and from then on it never
-- changes, so every retry sends the same bytes and the same tx_hash.
CREATE TABLE outbox (
  id bigserial PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('SUBMIT_RESULT', 'TRANSFER')),
  dedup_key text NOT NULL UNIQUE,
  draft jsonb NOT NULL,
  sender text,
  nonce bigint,
  body text,
  tx_hash text UNIQUE,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'acknowledged', 'failed')),
  attempts int NOT NULL DEFAULT 0,
  next_attempt_at bigint NOT NULL,
  last_error text,
  height bigint,
  created_at bigint NOT NULL,
  acknowledged_at bigint,
  UNIQUE (sender, nonce),
  CHECK ((nonce IS NULL) = (body IS NULL) AND (body IS NULL) = (tx_hash IS NULL) AND (tx_hash IS NULL) = (sender IS NULL))
);

CREATE INDEX outbox_status_due ON outbox (status, next_attempt_at);

-- Drafts waiting for a nonce, in queue order.
CREATE INDEX outbox_unsealed ON outbox (id) WHERE nonce IS NULL AND status = 'pending';

-- The courier walks sealed pending entries in nonce order.
CREATE INDEX outbox_pending ON outbox (sender, nonce) WHERE status = 'pending' AND nonce IS NOT NULL;

-- The next nonce of each sender; the courier locks the row while it seals drafts.
CREATE TABLE chain_nonces (
  sender text PRIMARY KEY,
  next_nonce bigint NOT NULL CHECK (next_nonce >= 0)
);

-- A worker's share of each receipt settled in Real mode, until a payout flush batches it into
-- a TRANSFER (batch_id set in the same transaction as the outbox row and the ledger journal).
CREATE TABLE payouts (
  receipt_key text PRIMARY KEY,
  task_id uuid NOT NULL,
  address text NOT NULL,
  asset text NOT NULL,
  amount numeric(78, 0) NOT NULL CHECK (amount > 0),
  created_at bigint NOT NULL,
  batch_id uuid,
  batched_at bigint
);

CREATE INDEX payouts_unbatched ON payouts (created_at, receipt_key) WHERE batch_id IS NULL;

-- Money paid out to the chain leaves the providers' balances for this account, so the books
-- still sum to zero and `funded` still means everything ever funded.
INSERT INTO accounts (account_id, name, kind, created_at) VALUES
  ('00000000-0000-0000-0000-0000000000c1', 'paid_out', 'system', 0);

INSERT INTO balances (account_id, asset) VALUES ('00000000-0000-0000-0000-0000000000c1', 'CPC');
