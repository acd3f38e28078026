-- Webhooks (issue #14): the sweep that queues deliveries for ended tasks no longer reads every
-- open task's webhook each second. A task's end queues its delivery at once (by its event); the
-- sweep is the backstop for an end no event announced here (a node that stopped in between),
-- and reads only the webhooks due for a look (check_ms), by index, a batch at a time, moving
-- each one it looks at a minute ahead.
ALTER TABLE task_webhooks ADD COLUMN check_ms bigint NOT NULL DEFAULT 0;

DROP INDEX task_webhooks_unnotified;

CREATE INDEX task_webhooks_due ON task_webhooks (check_ms) WHERE notified_status IS NULL;
