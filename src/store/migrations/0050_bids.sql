-- Bid commit–reveal (spec compute-market.md "Bid Commit–Reveal", issue #13 item 7). A bid is
-- committed as a hash only (its BidTx goes out through the outbox, dedup key 'bid:<bid_id>', and
-- the block holding it is the outbox entry's height); it is revealed no sooner than two blocks
-- after that block, and only a reveal that matches the commitment creates its task.

CREATE TABLE bids (
  bid_id uuid PRIMARY KEY,
  account_id uuid NOT NULL REFERENCES accounts,
  -- SHA-256 of (tag, salt, canonical state), 64 lowercase hex; one bid per commitment.
  commitment text NOT NULL UNIQUE CHECK (commitment ~ '^[0-9a-f]{64}$'),
  status text NOT NULL CHECK (status IN ('committed', 'revealed')),
  task_id uuid,
  created_at bigint NOT NULL,
  revealed_at bigint,
  CHECK ((status = 'revealed') = (task_id IS NOT NULL))
);

CREATE INDEX bids_account ON bids (account_id, created_at);
