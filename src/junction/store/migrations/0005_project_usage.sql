-- Tokens each project used per UTC day (the server-side budget counts these).
CREATE TABLE project_usage (
    project_id  TEXT NOT NULL,
    day         TEXT NOT NULL,
    tokens      BIGINT NOT NULL,
    PRIMARY KEY (project_id, day)
){{without_rowid}};
