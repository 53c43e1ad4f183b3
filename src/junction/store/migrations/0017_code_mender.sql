-- Code-mender sessions (agent_config.session_id): the model the session uses, the
-- environment it works in, its round limit and the findings reported so far, per project.
CREATE TABLE code_mender_sessions (
    project_id      TEXT NOT NULL,
    id              TEXT NOT NULL,
    model           TEXT NOT NULL,
    environment_id  TEXT NOT NULL,
    max_rounds      INTEGER NOT NULL,
    findings        TEXT NOT NULL,
    interactions    INTEGER NOT NULL,
    created         TEXT NOT NULL,
    updated         TEXT NOT NULL,
    PRIMARY KEY (project_id, id)
){{without_rowid}};
CREATE INDEX code_mender_sessions_by_use ON code_mender_sessions (project_id, updated);
