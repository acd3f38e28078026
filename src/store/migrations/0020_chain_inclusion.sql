-- Inclusion, not acceptance (issue #13). The CPC node's "received" means its pool took a
-- transaction, not that a block holds it, so an outbox entry now goes pending → sent (the pool
-- took it) → included (a block holds it, height and block_hash) → final (chain_confirmations
-- blocks on top). An answer that may mean "already included" (nonce_too_low,
-- insufficient_balance, an HTTP 400) puts it in `checking` (check_reason) until the blocks and
-- the sender's nonce settle it; one that cannot be settled is `held` for the operator.
-- Entries the old courier marked acknowledged were only taken into a pool: they are `sent`.

ALTER TABLE outbox DROP CONSTRAINT outbox_status_check;

UPDATE outbox SET status = 'sent' WHERE status = 'acknowledged';

ALTER TABLE outbox ADD CONSTRAINT outbox_status_check
  CHECK (status IN ('pending', 'sent', 'checking', 'included', 'final', 'held', 'failed'));

ALTER TABLE outbox RENAME COLUMN acknowledged_at TO sent_at;

-- first_sent_at is written before the first send (write-ahead): an entry with it set may be in
-- the node's pool even if no answer was recorded, so its nonce is never given to another entry.
-- sent_height is the chain head when it was first sent: no block below it can hold it.
ALTER TABLE outbox ADD COLUMN first_sent_at bigint;

ALTER TABLE outbox ADD COLUMN sent_height bigint;

ALTER TABLE outbox ADD COLUMN check_reason text;

ALTER TABLE outbox ADD COLUMN block_hash text;

ALTER TABLE outbox ADD COLUMN final_at bigint;

UPDATE outbox SET first_sent_at = sent_at WHERE status = 'sent';

CREATE INDEX outbox_unsettled ON outbox (sender, nonce) WHERE status IN ('sent', 'checking', 'included', 'held');

-- The next block height the courier reads for its sender's transactions, and where it started:
-- an entry first sent below `origin_height` may sit in a block the scan never read.
CREATE TABLE chain_cursor (
  sender text PRIMARY KEY,
  next_height bigint NOT NULL CHECK (next_height >= 0),
  origin_height bigint NOT NULL CHECK (origin_height >= 0)
);

-- The embedded dev chain behaves like the node: a transaction its pool takes but that will fail
-- execution (a SUBMIT_RESULT whose worker is not its sender) is "received", holds its nonce in
-- the pool, and is dropped by the next block: exec_error says why.
ALTER TABLE chain_txs ADD COLUMN exec_error text;

-- The dev chain's pool ages transactions for its TTL: submitted_at is now milliseconds.
UPDATE chain_txs SET submitted_at = submitted_at * 1000;
