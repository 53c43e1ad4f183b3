-- Fair claiming between projects: the runnable and running interactions of each project,
-- in claim order (queued first, then lapsed leases, oldest first). Workers walk the
-- distinct projects of this index and count each one's running runs in it.
CREATE INDEX interactions_queue ON interactions (project_id, lease_expires, id)
    WHERE status IN ('queued', 'in_progress');
