-- One time unit in the schema (issue #11, docs/decisions.md "Time units in the schema"): every
-- time column holds Unix milliseconds (durations: milliseconds) and its name ends `_ms`.
--
-- Columns that held milliseconds are only renamed (catalogue only, instant). Columns that held
-- seconds are multiplied by 1000 with ALTER COLUMN … TYPE bigint USING, every column of a table in
-- one ALTER, so each such table is rewritten once into a fresh heap (no dead row per row, no
-- dropped column left in every tuple, as ADD/UPDATE/DROP would leave) and the indexes on those
-- columns (tasks_open_deadline, payouts_unbatched, bids_account) are rebuilt with their
-- definitions, predicates included. On a large database the rewrite of tasks and ledger_entries
-- takes a while under an exclusive lock (docs/operations.md).
--
-- chain_blocks.block_time_ms is the dev chain's storage of the block header's `timestamp`, which
-- stays in seconds on the wire and in the block hash (src/chain/dev-chain.ts maps).

-- Seconds → milliseconds.
ALTER TABLE accounts ALTER COLUMN created_at TYPE bigint USING created_at * 1000;
ALTER TABLE accounts RENAME COLUMN created_at TO created_at_ms;

ALTER TABLE ledger_entries ALTER COLUMN created_at TYPE bigint USING created_at * 1000;
ALTER TABLE ledger_entries RENAME COLUMN created_at TO created_at_ms;

ALTER TABLE tasks
  ALTER COLUMN created_at TYPE bigint USING created_at * 1000,
  ALTER COLUMN updated_at TYPE bigint USING updated_at * 1000,
  ALTER COLUMN completed_at TYPE bigint USING completed_at * 1000,
  ALTER COLUMN deadline TYPE bigint USING deadline * 1000;
ALTER TABLE tasks RENAME COLUMN created_at TO created_at_ms;
ALTER TABLE tasks RENAME COLUMN updated_at TO updated_at_ms;
ALTER TABLE tasks RENAME COLUMN completed_at TO completed_at_ms;
ALTER TABLE tasks RENAME COLUMN deadline TO deadline_ms;

ALTER TABLE providers
  ALTER COLUMN first_seen TYPE bigint USING first_seen * 1000,
  ALTER COLUMN last_seen TYPE bigint USING last_seen * 1000;
ALTER TABLE providers RENAME COLUMN first_seen TO first_seen_ms;
ALTER TABLE providers RENAME COLUMN last_seen TO last_seen_ms;

ALTER TABLE offers
  ALTER COLUMN created_at TYPE bigint USING created_at * 1000,
  ALTER COLUMN closed_at TYPE bigint USING closed_at * 1000;
ALTER TABLE offers RENAME COLUMN created_at TO created_at_ms;
ALTER TABLE offers RENAME COLUMN closed_at TO closed_at_ms;

ALTER TABLE blobs ALTER COLUMN created_at TYPE bigint USING created_at * 1000;
ALTER TABLE blobs RENAME COLUMN created_at TO created_at_ms;

ALTER TABLE scheduler_params ALTER COLUMN updated_at TYPE bigint USING updated_at * 1000;
ALTER TABLE scheduler_params RENAME COLUMN updated_at TO updated_at_ms;

ALTER TABLE params_audit ALTER COLUMN changed_at TYPE bigint USING changed_at * 1000;
ALTER TABLE params_audit RENAME COLUMN changed_at TO changed_at_ms;

ALTER TABLE cancellations ALTER COLUMN created_at TYPE bigint USING created_at * 1000;
ALTER TABLE cancellations RENAME COLUMN created_at TO created_at_ms;

ALTER TABLE settlement_state ALTER COLUMN updated_at TYPE bigint USING updated_at * 1000;
ALTER TABLE settlement_state RENAME COLUMN updated_at TO updated_at_ms;

ALTER TABLE chain_blocks ALTER COLUMN block_time TYPE bigint USING block_time * 1000;
ALTER TABLE chain_blocks RENAME COLUMN block_time TO block_time_ms;

ALTER TABLE payouts
  ALTER COLUMN created_at TYPE bigint USING created_at * 1000,
  ALTER COLUMN batched_at TYPE bigint USING batched_at * 1000;
ALTER TABLE payouts RENAME COLUMN created_at TO created_at_ms;
ALTER TABLE payouts RENAME COLUMN batched_at TO batched_at_ms;

ALTER TABLE bids
  ALTER COLUMN created_at TYPE bigint USING created_at * 1000,
  ALTER COLUMN revealed_at TYPE bigint USING revealed_at * 1000;
ALTER TABLE bids RENAME COLUMN created_at TO created_at_ms;
ALTER TABLE bids RENAME COLUMN revealed_at TO revealed_at_ms;

-- Already milliseconds: the name says it now.
ALTER TABLE jobs RENAME COLUMN queued_at TO queued_at_ms;
ALTER TABLE jobs RENAME COLUMN started_at TO started_at_ms;
ALTER TABLE jobs RENAME COLUMN finished_at TO finished_at_ms;
ALTER TABLE jobs RENAME COLUMN lease_expires_at TO lease_expires_at_ms;
-- arrival ms less the priority's head start
ALTER TABLE jobs RENAME COLUMN sort_key TO sort_key_ms;

ALTER TABLE receipts RENAME COLUMN created_at TO created_at_ms;

ALTER TABLE settlement_failures RENAME COLUMN created_at TO created_at_ms;

ALTER TABLE chain_txs RENAME COLUMN submitted_at TO submitted_at_ms;

ALTER TABLE outbox RENAME COLUMN created_at TO created_at_ms;
ALTER TABLE outbox RENAME COLUMN next_attempt_at TO next_attempt_at_ms;
ALTER TABLE outbox RENAME COLUMN sent_at TO sent_at_ms;
ALTER TABLE outbox RENAME COLUMN first_sent_at TO first_sent_at_ms;
ALTER TABLE outbox RENAME COLUMN final_at TO final_at_ms;
