-- Custom agents (REFERENCE 7): the definition as sent, per project.
CREATE TABLE agents (
    project_id  TEXT NOT NULL,
    id          TEXT NOT NULL,
    data        TEXT NOT NULL,
    created     TEXT NOT NULL,
    PRIMARY KEY (project_id, id)
){{without_rowid}};
