-- Duties: jobs that one process of a deployment should do at a time (the retention purge).
-- A process holds a duty until ``until_ms``, renewing it each pass; when the holder dies,
-- the lease runs out and another process takes the duty over.
CREATE TABLE duties (
    name      TEXT PRIMARY KEY,
    holder    TEXT NOT NULL,
    until_ms  BIGINT NOT NULL
);
