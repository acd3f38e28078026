-- Webhooks (issue #14). A task may name a URL to be told when it ends. task_webhooks holds the
-- URL and the customer's signing secret; notified_status is the final status a delivery was
-- queued for (NULL while none was), so the sweeper that queues deliveries finds what is due by
-- reading, and a node that stops between the task's end and the queueing loses nothing.
-- webhook_deliveries is the durable queue: a delivery stays pending, tried with backoff, until
-- the receiver answers 2xx (delivered) or it runs out of attempts (failed).

CREATE TABLE task_webhooks (
  task_id uuid PRIMARY KEY REFERENCES tasks ON DELETE CASCADE,
  url text NOT NULL,
  secret text NOT NULL,
  notified_status text
);

CREATE INDEX task_webhooks_unnotified ON task_webhooks (task_id) WHERE notified_status IS NULL;

CREATE TABLE webhook_deliveries (
  delivery_id uuid PRIMARY KEY,
  task_id uuid NOT NULL,
  event text NOT NULL,
  url text NOT NULL,
  body text NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_ms bigint NOT NULL,
  last_error text,
  created_ms bigint NOT NULL,
  finished_ms bigint
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_ms) WHERE status = 'pending';

CREATE INDEX webhook_deliveries_task ON webhook_deliveries (task_id);

-- GET /providers/{address} lists a provider's recent jobs: found by worker, newest first.
CREATE INDEX jobs_by_worker ON jobs (worker_address, seq) WHERE worker_address IS NOT NULL;
