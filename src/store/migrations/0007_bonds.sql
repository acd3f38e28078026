-- SLA bonds: a provider leasing an industrial job posts a bond (sla_bond_pct of the job's price)
-- from its account into the `bonds` system account; it comes back when the job completes, is
-- cancelled or put back, and goes to the treasury when the task's deadline passes while the job
-- is still leased to it (penalize_sla).

ALTER TABLE jobs ADD COLUMN bond numeric(78, 0) NOT NULL DEFAULT 0;

INSERT INTO accounts (account_id, name, kind, created_at) VALUES
  ('00000000-0000-0000-0000-0000000000b1', 'bonds', 'system', 0);

INSERT INTO balances (account_id, asset) VALUES ('00000000-0000-0000-0000-0000000000b1', 'CPC');
