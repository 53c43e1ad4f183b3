-- Interaction auth tokens (short-lived keys scoped to one interaction) and automatic
-- continuation (tokens handed out when a synchronous hop ends, and the hops themselves).

CREATE TABLE interaction_auth_tokens (
    token_hash      TEXT PRIMARY KEY,
    project_id      TEXT NOT NULL,
    interaction_id  TEXT NOT NULL,
    expires_ms      BIGINT NOT NULL,
    created         TEXT NOT NULL
){{without_rowid}};
CREATE INDEX interaction_auth_tokens_by_interaction
    ON interaction_auth_tokens (project_id, interaction_id);

-- A continuation token: issued by one hop (issuer_id) of the run of run_id, after
-- `delivered` of the run's own steps and event `event_seq` went out. Single use.
CREATE TABLE continuation_tokens (
    token_hash   TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL,
    issuer_id    TEXT NOT NULL,
    run_id       TEXT NOT NULL,
    delivered    BIGINT NOT NULL,
    event_seq    BIGINT NOT NULL,
    used         INTEGER NOT NULL DEFAULT 0,
    created      TEXT NOT NULL
){{without_rowid}};

-- A continuation hop is a stored interaction whose steps are a range of its run's
-- steps (chain seq first_seq..last_seq of the hop row), not steps of its own.
CREATE TABLE continuation_hops (
    interaction_id  TEXT PRIMARY KEY,
    project_id      TEXT NOT NULL,
    run_id          TEXT NOT NULL
){{without_rowid}};
