-- Credentials: secrets are encrypted (Fernet) before they reach this table; `meta` holds
-- the non-secret settings (header name, token URL, trusted domains, …).
CREATE TABLE credentials (
    project_id  TEXT NOT NULL,
    id          TEXT NOT NULL,
    type        TEXT NOT NULL,
    status      TEXT NOT NULL,
    secret      TEXT NOT NULL,
    meta        TEXT NOT NULL,
    created     TEXT NOT NULL,
    updated     TEXT NOT NULL,
    PRIMARY KEY (project_id, id)
){{without_rowid}};
