-- HOT task updates at the lease (issue #11, docs/decisions.md "Lean rows under churn").
--
-- PostgreSQL keeps an update HOT (no index entries, the new version on the same page) only when
-- no column an index keys or filters on changes value. The lease moves a task pending →
-- in_progress, and `status` was keyed by tasks_status_seq and filtered on by tasks_open_deadline,
-- so every lease wrote a new entry into each of the table's indexes.
--
-- `phase` is `status` with the two open statuses folded into one, 'open': the lease (and a
-- requeue, in_progress → pending) leaves it unchanged. A stored generated column is compared by
-- value like any other, so the indexes below no longer block HOT at the lease; and, computed from
-- `status`, it is right after every path that ends a task (completion, the one-statement commit,
-- failure, cancel, expiry) without any of them naming it. An index on an expression of `status`
-- would not do: HOT looks at the columns an expression reads, not at its value.
--
-- The fillfactor first: adding a stored column rewrites the table, packed to it.
ALTER TABLE tasks SET (fillfactor = 70);
ALTER TABLE tasks ADD COLUMN phase text NOT NULL
  GENERATED ALWAYS AS (CASE WHEN status IN ('pending', 'in_progress') THEN 'open' ELSE status END) STORED;

-- Listing by status (GET /tasks?status=, the operator's listing): the phase, newest first; an
-- open status filters the open tasks only, an ended one reads exactly its own entries.
DROP INDEX tasks_status_seq;
CREATE INDEX tasks_phase_seq ON tasks (phase, seq);

-- The deadline sweep (nextOpenDeadline, overdueTaskIds): open tasks with a deadline, as before.
DROP INDEX tasks_open_deadline;
CREATE INDEX tasks_open_deadline ON tasks (deadline_ms) WHERE phase = 'open' AND deadline_ms IS NOT NULL;
