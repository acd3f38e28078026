// The embedded dev chain's tables, as the text of a migration (to become
// src/store/migrations/0003_dev_chain.sql). One statement per `;` at a line end, as migrate.ts
// splits them.

export const DEV_CHAIN_SCHEMA_SQL = `-- The embedded dev chain: blocks and the transactions submitted to it.
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
`;
