-- Fair share across market nodes: each node reports its buyers' and providers' recent industrial
-- usage every second, and every node holds a party to the sum (src/market/cluster.ts).
CREATE TABLE admission_usage (
  node_id uuid NOT NULL,
  kind text NOT NULL CHECK (kind IN ('buyer', 'provider')),
  party text NOT NULL,
  usage float8 NOT NULL,
  at_ms bigint NOT NULL,
  PRIMARY KEY (node_id, kind, party)
);

-- Jobs and tasks change status several times each: room on each page lets updates that touch
-- no indexed column stay on the page (HOT), and vacuum comes sooner to the churning tables.
ALTER TABLE jobs SET (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.05);
ALTER TABLE tasks SET (fillfactor = 85, autovacuum_vacuum_scale_factor = 0.02);
