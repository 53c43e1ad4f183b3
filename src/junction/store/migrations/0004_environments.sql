-- Environments (REFERENCE 8): a sandboxed workspace and the rules it runs under.
CREATE TABLE environments (
    id              TEXT PRIMARY KEY,
    project_id      TEXT NOT NULL,
    status          TEXT NOT NULL,
    mode            TEXT NOT NULL,
    network         TEXT NOT NULL,
    sources         TEXT NOT NULL,
    custom_config   TEXT,
    created         TEXT NOT NULL,
    updated         TEXT NOT NULL,
    last_accessed   TEXT NOT NULL
){{without_rowid}};
CREATE INDEX environments_by_project ON environments (project_id, id);
CREATE INDEX environments_by_access ON environments (status, last_accessed);
