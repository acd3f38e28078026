-- Lean rows under churn: a leaner result commit and fewer index entries a task (issue #11,
-- docs/decisions.md "Lean rows under churn").
--
-- commit_results (migration 0090) wrote each task twice (jobs_done, then completed): one update
-- now, so a task leaves one dead row version fewer. It counted the tasks' jobs with a join whose
-- plan, made once per session while jobs is small and kept until the next ANALYZE, reads every
-- job (and every dead version) each batch; the count is now an index lookup per task. Otherwise
-- the function is 0090's, the same checks and the same writes.
--
-- tasks (account_id, idempotency_key) was a unique constraint over every task, so each task row
-- version (created, in_progress, completed) added an entry to it, key or no key. Only keyed tasks
-- need the check: a partial unique index under the same name enforces the same rule (NULL keys
-- were never compared) and skips the rest.
ALTER TABLE tasks DROP CONSTRAINT tasks_account_id_idempotency_key_key;
CREATE UNIQUE INDEX tasks_account_id_idempotency_key_key ON tasks (account_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;

-- Two indexes every row took and no statement needs. jobs_queued (sort_key_ms, seq) over queued
-- jobs: the queue is read type by type from jobs_queued_by_type (queueHeads), which has the same
-- predicate and so also serves the counts of queued jobs. ledger_entries_journal: nothing looks
-- a journal up by id (the invariant check groups the whole table), yet each task's ~2 entries
-- were inserted into it. An audit that wants one journal can still find it by a scan.
DROP INDEX jobs_queued;
DROP INDEX ledger_entries_journal;

CREATE OR REPLACE FUNCTION commit_results(batch jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  now_ms bigint := (batch->>'now_ms')::bigint;
  n_jobs int := jsonb_array_length(batch->'jobs');
  n_tasks int := jsonb_array_length(batch->'tasks');
  n int;
  held_by_task jsonb;
BEGIN
  -- The jobs complete if their workers still hold the leases (completeJobs).
  WITH done AS (
    UPDATE jobs j SET status = 'completed', result_hash = x.result_hash, proof = x.proof, output = x.output,
           finished_at_ms = now_ms, lease_expires_at_ms = NULL, verification = x.verification, verifiers = x.verifiers,
           canary = x.canary
    FROM jsonb_to_recordset(batch->'jobs')
      AS x(job_id uuid, worker_address text, result_hash text, proof jsonb, output jsonb, verification text,
           verifiers text[], canary text, quote_price numeric, units int)
    WHERE j.job_id = x.job_id AND j.status = 'leased' AND j.worker_address = x.worker_address
      AND j.lease_expires_at_ms >= now_ms AND j.bond = 0 AND j.verifies IS NULL
      -- The plan priced the receipt from the lease: the job must still say so.
      AND j.quote_price IS NOT DISTINCT FROM x.quote_price AND j.units = x.units
    RETURNING 1)
  SELECT count(*) INTO n FROM done;
  IF n <> n_jobs THEN RAISE EXCEPTION 'commit_fast_path_declined: % of % leases held', n, n_jobs; END IF;

  -- The tasks complete and release their escrow (countDoneJobs and completeTasks in one update:
  -- one new row version a task, not two); what each held is kept for settlement. Each must be
  -- done by this batch's job alone: its one job completed and checked, counted task by task
  -- through jobs_task_idx (a join here let the function's generic plan read every job).
  WITH x AS (
    SELECT * FROM jsonb_to_recordset(batch->'tasks')
      AS x(task_id uuid, buyer uuid, asset text, it_asset text, pct int, result_hash text, worker_address text,
           verified boolean)),
  target AS (
    SELECT t.task_id, t.escrow_held, c.done FROM x
    JOIN tasks t ON x.task_id = t.task_id AND x.buyer = t.account_id AND x.asset = t.asset
         AND x.it_asset = t.it_asset AND x.pct = t.fee_pct_ct
    CROSS JOIN LATERAL (
      SELECT count(*) FILTER (WHERE j.status = 'completed' AND j.verification IN ('verified', 'sampled_out')) AS done,
             count(*) FILTER (WHERE j.status = 'completed') AS completed
      FROM jobs j WHERE j.task_id = t.task_id AND j.verifies IS NULL) c
    WHERE t.status IN (SELECT jsonb_array_elements_text(batch->'completable'))
      AND c.done = t.jobs_total AND c.completed = 1
    ORDER BY t.task_id FOR UPDATE OF t),
  completed AS (
    UPDATE tasks t SET status = 'completed', jobs_done = target.done, result_hash = x.result_hash,
           worker_address = x.worker_address, completed_at_ms = now_ms, updated_at_ms = now_ms, escrow_held = 0,
           escrow_ct = 0, verified = x.verified
    FROM x, target
    WHERE t.task_id = x.task_id AND target.task_id = t.task_id
    RETURNING t.task_id, target.escrow_held)
  SELECT count(*), coalesce(jsonb_object_agg(task_id, escrow_held::text), '{}') INTO n, held_by_task FROM completed;
  IF n <> n_tasks THEN RAISE EXCEPTION 'commit_fast_path_declined: % of % tasks done by one job and completed', n, n_tasks; END IF;

  -- In Real mode a charge over the escrow is a settlement failure, which the long way records.
  IF EXISTS (SELECT 1 FROM jsonb_to_recordset(batch->'tasks') AS x(task_id uuid, is_real boolean, charge numeric)
             CROSS JOIN LATERAL (SELECT (held_by_task->>x.task_id::text)::numeric AS held) h WHERE x.is_real AND x.charge > h.held) THEN
    RAISE EXCEPTION 'commit_fast_path_declined: a charge exceeds its escrow';
  END IF;

  -- Providers paid for the first time get their accounts (providerAccounts), under the ids planned.
  IF jsonb_array_length(batch->'accounts') > 0 THEN
    INSERT INTO accounts (account_id, name, kind, address, created_at_ms)
    SELECT account_id, address, 'provider', address, now_ms
    FROM jsonb_to_recordset(batch->'accounts') AS x(account_id uuid, address text)
    ORDER BY address
    ON CONFLICT (address) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> jsonb_array_length(batch->'accounts') THEN
      RAISE EXCEPTION 'commit_fast_path_declined: a provider account exists already';
    END IF;
    INSERT INTO balances (account_id, asset)
    SELECT x.account_id, a.asset
    FROM jsonb_to_recordset(batch->'accounts') AS x(account_id uuid, address text),
         jsonb_array_elements_text(batch->'account_assets') AS a(asset)
    ON CONFLICT DO NOTHING;
  END IF;

  -- Receipts (insertReceipts): every one new, or the plan was wrong.
  INSERT INTO receipts (idempotency_key, job_id, task_id, body, amount, mode, applied, journal_id, created_at_ms)
  SELECT idempotency_key, job_id, task_id, body, amount, mode, applied, journal_id, now_ms
  FROM jsonb_to_recordset(batch->'receipts') AS x(idempotency_key text, job_id uuid, task_id uuid, body text,
       amount numeric, mode text, applied boolean, journal_id uuid)
  ON CONFLICT (idempotency_key) DO NOTHING;
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n <> jsonb_array_length(batch->'receipts') THEN
    RAISE EXCEPTION 'commit_fast_path_declined: a receipt was seen before';
  END IF;

  -- One settlement journal: the planned charges plus each task's refund, the hold minus what was
  -- charged, asset by asset (residualRefund over splitEscrow: CT = floor(amount × pct / 100)).
  IF EXISTS (SELECT 1 FROM jsonb_to_recordset(batch->'tasks')
               AS x(task_id uuid, pct int, charged_ct numeric, charged_it numeric)
             CROSS JOIN LATERAL (SELECT (held_by_task->>x.task_id::text)::numeric AS held) h
             WHERE div(h.held * x.pct, 100) < x.charged_ct OR h.held - div(h.held * x.pct, 100) < x.charged_it) THEN
    RAISE EXCEPTION 'commit_fast_path_declined: more was charged than the escrow holds';
  END IF;
  WITH refund AS (
    SELECT x.buyer, x.asset, x.it_asset,
           div(h.held * x.pct, 100) - x.charged_ct AS ct,
           h.held - div(h.held * x.pct, 100) - x.charged_it AS it
    FROM jsonb_to_recordset(batch->'tasks')
         AS x(task_id uuid, buyer uuid, asset text, it_asset text, pct int, charged_ct numeric, charged_it numeric)
    CROSS JOIN LATERAL (SELECT (held_by_task->>x.task_id::text)::numeric AS held) h),
  postings AS (
    SELECT account_id, asset, amount FROM jsonb_to_recordset(batch->'postings') AS p(account_id uuid, asset text, amount numeric)
    UNION ALL SELECT (batch->>'escrow')::uuid, asset, -ct FROM refund WHERE ct > 0
    UNION ALL SELECT buyer, asset, ct FROM refund WHERE ct > 0
    UNION ALL SELECT (batch->>'escrow')::uuid, it_asset, -it FROM refund WHERE it > 0
    UNION ALL SELECT buyer, it_asset, it FROM refund WHERE it > 0),
  summed AS (
    SELECT account_id, asset, sum(amount) AS amount FROM postings GROUP BY account_id, asset HAVING sum(amount) <> 0),
  entries AS (
    INSERT INTO ledger_entries (journal_id, kind, ref, account_id, asset, amount, created_at_ms)
    SELECT (batch->>'journal_id')::uuid, 'settlement', NULL, account_id, asset, amount, now_ms FROM summed)
  INSERT INTO balances AS b (account_id, asset, amount)
  SELECT account_id, asset, amount FROM summed ORDER BY account_id, asset
  ON CONFLICT (account_id, asset) DO UPDATE SET amount = b.amount + EXCLUDED.amount;

  -- Worker shares for the payout flush, and the batch's SUBMIT_RESULT draft (queuePayouts, queueResults).
  INSERT INTO payouts (receipt_key, task_id, address, asset, amount, created_at_ms)
  SELECT receipt_key, task_id, address, asset, amount, now_ms
  FROM jsonb_to_recordset(batch->'payouts') AS x(receipt_key text, task_id uuid, address text, asset text, amount numeric)
  ON CONFLICT (receipt_key) DO NOTHING;
  INSERT INTO outbox (kind, dedup_key, draft, next_attempt_at_ms, created_at_ms)
  SELECT x.value->>'kind', x.value->>'dedup_key', x.value->'draft', now_ms, now_ms
  FROM jsonb_array_elements(batch->'drafts') WITH ORDINALITY AS x(value, ord)
  ORDER BY x.ord
  ON CONFLICT (dedup_key) DO NOTHING;

  -- Reputation (recordOutcomes): the entries were adjusted from what the market last committed;
  -- a row that moved since (another node, gossip) sends the batch the long way.
  WITH expected AS (
    SELECT x.address, x.old_score, x.old_epoch, x.old_updated_at_ms
    FROM jsonb_to_recordset(batch->'reputation')
         AS x(address text, old_score int, old_epoch bigint, old_updated_at_ms bigint)),
  locked AS (
    SELECT r.address, r.score, r.epoch, r.updated_at_ms FROM provider_reputation r
    WHERE r.address IN (SELECT address FROM expected) ORDER BY r.address FOR UPDATE)
  SELECT count(*) INTO n FROM expected e LEFT JOIN locked l USING (address)
  WHERE (l.address IS NULL AND e.old_epoch IS NULL)
     OR (l.score = e.old_score AND l.epoch = e.old_epoch AND l.updated_at_ms = e.old_updated_at_ms);
  IF n <> jsonb_array_length(batch->'reputation') THEN
    RAISE EXCEPTION 'commit_fast_path_declined: a reputation row moved';
  END IF;
  INSERT INTO provider_reputation AS r (address, score, epoch, updated_at_ms)
  SELECT address, score, epoch, updated_at_ms
  FROM jsonb_to_recordset(batch->'reputation') AS x(address text, score int, epoch bigint, updated_at_ms bigint)
  WHERE score IS NOT NULL
  ON CONFLICT (address) DO UPDATE SET score = EXCLUDED.score, epoch = EXCLUDED.epoch,
    updated_at_ms = EXCLUDED.updated_at_ms
    WHERE r.epoch <= EXCLUDED.epoch;

  -- The providers' counters (countProviderOutcomes).
  UPDATE providers p SET jobs_completed = p.jobs_completed + x.completed,
         jobs_failed = p.jobs_failed + x.failed, lease_expiries = p.lease_expiries + x.expired,
         verified_jobs = p.verified_jobs + x.vjobs, verified_units = p.verified_units + x.vunits,
         verified_ms = p.verified_ms + x.vms,
         last_verified_at_ms = CASE WHEN x.vjobs > 0 THEN now_ms ELSE p.last_verified_at_ms END,
         contradicted_claims = p.contradicted_claims + x.contradicted
  FROM jsonb_to_recordset(batch->'counters')
       AS x(address text, completed int, failed int, expired int, vjobs int, vunits int8, vms int8, contradicted int)
  WHERE p.address = x.address;
END;
$$;
