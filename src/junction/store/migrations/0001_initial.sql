-- Junction schema, version 1. Portable SQL: runs unchanged on SQLite and PostgreSQL.
-- Timestamps are ISO-8601 UTC text of fixed width (they sort as text); JSON is text.
-- {{without_rowid}} becomes WITHOUT ROWID on SQLite (clustered on the primary key).

CREATE TABLE projects (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created     TEXT NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects (id),
    key_hash    TEXT NOT NULL UNIQUE,
    prefix      TEXT NOT NULL,
    name        TEXT,
    created     TEXT NOT NULL,
    revoked     TEXT
);

-- A chain is one linear conversation history. Steps of every interaction on it are
-- numbered by `seq`, so the history of any interaction is one range scan.
CREATE TABLE chains (
    id                   TEXT PRIMARY KEY,
    project_id           TEXT NOT NULL,
    head_interaction_id  TEXT NOT NULL,
    created              TEXT NOT NULL
){{without_rowid}};

CREATE TABLE interactions (
    id                       TEXT PRIMARY KEY,
    project_id               TEXT NOT NULL,
    status                   TEXT NOT NULL,
    model                    TEXT,
    agent                    TEXT,
    previous_interaction_id  TEXT,
    chain_id                 TEXT NOT NULL,
    first_seq                BIGINT NOT NULL,
    last_seq                 BIGINT NOT NULL,
    config                   TEXT NOT NULL,
    usage                    TEXT,
    errors                   TEXT,
    environment_id           TEXT,
    background               INTEGER NOT NULL DEFAULT 0,
    cancel_requested         INTEGER NOT NULL DEFAULT 0,
    idempotency_key          TEXT,
    -- the run's lease: who runs it, until when (epoch ms), and the fencing token
    lease_owner              TEXT,
    lease_expires            BIGINT NOT NULL DEFAULT 0,
    fence                    BIGINT NOT NULL DEFAULT 0,
    attempts                 INTEGER NOT NULL DEFAULT 0,
    created                  TEXT NOT NULL,
    updated                  TEXT NOT NULL
){{without_rowid}};
CREATE INDEX interactions_by_project ON interactions (project_id, id);
CREATE INDEX interactions_runnable ON interactions (lease_expires)
    WHERE status IN ('queued', 'in_progress');
CREATE UNIQUE INDEX interactions_idempotency
    ON interactions (project_id, idempotency_key);

CREATE TABLE steps (
    chain_id        TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    interaction_id  TEXT NOT NULL,
    project_id      TEXT NOT NULL,
    type            TEXT NOT NULL,
    data            TEXT NOT NULL,
    PRIMARY KEY (chain_id, seq)
){{without_rowid}};
CREATE INDEX steps_by_interaction ON steps (interaction_id, chain_id, seq);

-- The durable event log of every stored interaction (SSE replay and live follow).
CREATE TABLE events (
    interaction_id  TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    data            TEXT NOT NULL,
    PRIMARY KEY (interaction_id, seq)
){{without_rowid}};
