-- Verification (docs/decisions.md "Verification"): the market checks the work it pays for.
-- A replica is a job row that re-runs a primary job on another provider; it shares the primary's
-- task and index, so a task's own jobs are those with no `verifies`.
-- the primary job a replica re-runs (NULL: a task's own job)
ALTER TABLE jobs ADD COLUMN verifies uuid REFERENCES jobs;
-- a primary's verification once its result is in: pending | verified | sampled_out | disputed | failed
ALTER TABLE jobs ADD COLUMN verification text
  CHECK (verification IN ('pending', 'verified', 'sampled_out', 'disputed', 'failed'));
-- providers whose results agreed with the accepted one (a primary's), paid the validators' share
ALTER TABLE jobs ADD COLUMN verifiers text[] NOT NULL DEFAULT '{}';
-- providers that may not lease the job: the ones whose results a replica checks, and providers
-- that claimed the payload invalid
ALTER TABLE jobs ADD COLUMN excluded text[] NOT NULL DEFAULT '{}';
-- a replica runs only on a provider whose runner for the type has this id (same program, same answer)
ALTER TABLE jobs ADD COLUMN runner_id text;
-- providers that failed the job as invalid_payload; two independent ones fail it for good
ALTER TABLE jobs ADD COLUMN failure_claims text[] NOT NULL DEFAULT '{}';
-- a canary slice of the result the market checked itself: pass (a fail refuses the result)
ALTER TABLE jobs ADD COLUMN canary text CHECK (canary IN ('pass'));
-- the first result delivered, kept when a dispute replaced it with the accepted one
ALTER TABLE jobs ADD COLUMN first_result jsonb;

ALTER TABLE jobs DROP CONSTRAINT jobs_task_id_idx_key;
CREATE UNIQUE INDEX jobs_task_idx ON jobs (task_id, idx) WHERE verifies IS NULL;
CREATE INDEX jobs_verifies ON jobs (verifies) WHERE verifies IS NOT NULL;

ALTER TABLE providers ADD COLUMN verified_jobs bigint NOT NULL DEFAULT 0;
ALTER TABLE providers ADD COLUMN last_verified_at_ms bigint;
ALTER TABLE providers ADD COLUMN fraud_at_ms bigint;
ALTER TABLE providers ADD COLUMN fraud_reason text;
ALTER TABLE providers ADD COLUMN contradicted_claims int NOT NULL DEFAULT 0;
-- challenge type -> until (ms): a provider on probation whose runner failed a type rests it
ALTER TABLE providers ADD COLUMN cooldowns jsonb NOT NULL DEFAULT '{}';
-- units and milliseconds of its verified work: what it has shown it can do
ALTER TABLE providers ADD COLUMN verified_units bigint NOT NULL DEFAULT 0;
ALTER TABLE providers ADD COLUMN verified_ms bigint NOT NULL DEFAULT 0;

-- a completed task whose every job's result was checked in full
ALTER TABLE tasks ADD COLUMN verified boolean;

