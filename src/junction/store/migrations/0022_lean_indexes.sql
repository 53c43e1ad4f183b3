-- Leases: a process renews its runs' leases every few seconds, and at start-up lists the
-- owners of active runs and expires a dead owner's; each walked the whole table (14 ms
-- at 50,000 interactions, on SQLite on the event loop). They now read only active runs.
-- It replaces interactions_runnable, which no query used any longer (claims read
-- interactions_queue).
DROP INDEX interactions_runnable;
CREATE INDEX interactions_leases ON interactions (lease_owner)
    WHERE status IN ('queued', 'in_progress');
-- Fewer index pages written per new interaction: most requests carry no Idempotency-Key,
-- and each names a model or an agent, not both. Lookups name a value, so they still
-- find it (a NULL was never a match, nor a duplicate).
DROP INDEX interactions_idempotency;
CREATE UNIQUE INDEX interactions_idempotency ON interactions (project_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
DROP INDEX interactions_by_model;
CREATE INDEX interactions_by_model ON interactions (project_id, model, id)
    WHERE model IS NOT NULL;
DROP INDEX interactions_by_agent;
CREATE INDEX interactions_by_agent ON interactions (project_id, agent, id)
    WHERE agent IS NOT NULL;
