-- A customer's dispute of a job's result (docs/decisions.md "Verification", disputes). One per job:
-- kind 'audit' re-checks a result that can be re-derived (status open until the verdict: upheld when
-- the provider's result lost, rejected when it stood, unresolved when no two results agreed); kind
-- 'recorded' stands for work nothing can re-derive and is counted against the provider at once.
CREATE TABLE disputes (
  dispute_id uuid PRIMARY KEY,
  job_id uuid NOT NULL UNIQUE REFERENCES jobs (job_id),
  task_id uuid NOT NULL REFERENCES tasks (task_id),
  account_id uuid NOT NULL,
  provider text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('audit', 'recorded')),
  status text NOT NULL CHECK (status IN ('open', 'upheld', 'rejected', 'unresolved', 'recorded')),
  reason text NOT NULL,
  created_at_ms bigint NOT NULL,
  resolved_at_ms bigint
);
CREATE INDEX disputes_task ON disputes (task_id);
CREATE INDEX disputes_open ON disputes (job_id) WHERE status = 'open';
