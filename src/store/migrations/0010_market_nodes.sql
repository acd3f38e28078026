-- Several market nodes on one database: each node says it is alive every second, and the
-- offers its workers post name it, so every node can count the whole market's capacity and
-- leave out offers of a node that stopped without closing them.
CREATE TABLE market_nodes (
  node_id uuid PRIMARY KEY,
  started_at_ms bigint NOT NULL,
  -- The database's own clock, so nodes compare like with like.
  seen_at_ms bigint NOT NULL
);

ALTER TABLE offers ADD COLUMN node_id uuid;
