-- Issue #13, the chain helper's migration: bids under commit–reveal, and the blocks the courier has read.
--
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

-- Reorganisations (issue #13): the hashes of the last blocks the courier read for its sender,
-- so a block that changed under it is noticed (the next block's prev_hash, or the head, no longer
-- matches) and the scan goes back to the first changed height. Only the last few hundred are kept.
CREATE TABLE chain_seen_blocks (
  sender text NOT NULL,
  height bigint NOT NULL CHECK (height >= 0),
  hash text NOT NULL,
  PRIMARY KEY (sender, height)
);
