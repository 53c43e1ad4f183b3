-- Retention: per-project overrides of the server's retention defaults (NULL: use the
-- default; 0: keep forever), and how far the purge job has cleared each project's
-- event log (a watermark on interactions.created, so each pass starts where the last
-- one stopped).
CREATE TABLE project_retention (
    project_id                TEXT PRIMARY KEY,
    interactions_days         DOUBLE PRECISION,
    events_days               DOUBLE PRECISION,
    media_days                DOUBLE PRECISION,
    environment_idle_seconds  DOUBLE PRECISION,
    events_purged_until       TEXT NOT NULL DEFAULT '',
    updated                   TEXT NOT NULL
){{without_rowid}};
-- The purge job finds a project's oldest interactions in creation order.
CREATE INDEX interactions_by_created ON interactions (project_id, created);
