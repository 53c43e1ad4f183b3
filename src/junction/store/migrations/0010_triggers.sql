-- Triggers (REFERENCE 9.2): scheduled agent runs, and one row per execution.
CREATE TABLE triggers (
    id                          TEXT PRIMARY KEY,
    project_id                  TEXT NOT NULL,
    display_name                TEXT,
    schedule                    TEXT NOT NULL,
    time_zone                   TEXT NOT NULL,
    interaction                 TEXT NOT NULL,
    environment_id              TEXT,
    execution_timeout_seconds   INTEGER,
    max_consecutive_failures    INTEGER,
    concurrency                 TEXT NOT NULL,
    catch_up                    TEXT NOT NULL,
    status                      TEXT NOT NULL,
    consecutive_failure_count   INTEGER NOT NULL DEFAULT 0,
    next_run_ms                 BIGINT,
    last_run_time               TEXT,
    last_pause_time             TEXT,
    last_resume_time            TEXT,
    previous_interaction_id     TEXT,
    created                     TEXT NOT NULL,
    updated                     TEXT NOT NULL
){{without_rowid}};
CREATE INDEX triggers_by_project ON triggers (project_id, id);
CREATE INDEX triggers_due ON triggers (status, next_run_ms);
CREATE TABLE trigger_executions (
    id                  TEXT PRIMARY KEY,
    trigger_id          TEXT NOT NULL,
    project_id          TEXT NOT NULL,
    manual              INTEGER NOT NULL,
    scheduled_ms        BIGINT NOT NULL,
    status              TEXT NOT NULL,
    interaction_id      TEXT,
    environment_id      TEXT,
    start_time          TEXT,
    end_time            TEXT,
    deadline_ms         BIGINT,
    start_lease_ms      BIGINT NOT NULL DEFAULT 0,
    error               TEXT,
    created             TEXT NOT NULL
){{without_rowid}};
-- Exactly one execution per trigger and scheduled time, whoever fires it.
CREATE UNIQUE INDEX trigger_executions_once ON trigger_executions (trigger_id, scheduled_ms)
    WHERE manual = 0;
CREATE INDEX trigger_executions_by_trigger ON trigger_executions (trigger_id, id);
CREATE INDEX trigger_executions_open ON trigger_executions (status, deadline_ms);
