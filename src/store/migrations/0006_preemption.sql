-- Preemption: a job may be handed from provider to provider more than once, so 'preempted' entries
-- repeat per job; a final cancellation (client, provider) stays unique per job for replay protection.

ALTER TABLE cancellations DROP CONSTRAINT cancellations_job_id_key;
CREATE UNIQUE INDEX cancellations_final ON cancellations (job_id) WHERE reason <> 'preempted';

-- Lanes: the dispatcher reads each lane's head of the queue; one index per type keeps a large
-- industrial backlog from being scanned to find the consumer lane's first jobs.
CREATE INDEX jobs_queued_by_type ON jobs (challenge_type, sort_key, seq) WHERE status = 'queued';
