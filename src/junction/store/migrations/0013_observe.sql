-- Observability: who made each interaction (the API key, for per-key rollups), the trace
-- context a run continues in any process, money in the daily project budget, and the
-- daily usage rollup per project, API key and model (GET /{version}/usage).
ALTER TABLE interactions ADD COLUMN api_key_id TEXT;
ALTER TABLE interactions ADD COLUMN trace_context TEXT;
ALTER TABLE project_usage ADD COLUMN cost DOUBLE PRECISION NOT NULL DEFAULT 0;

CREATE TABLE usage_daily (
    project_id      TEXT NOT NULL,
    day             TEXT NOT NULL,
    api_key_id      TEXT NOT NULL,
    model           TEXT NOT NULL,
    interactions    BIGINT NOT NULL DEFAULT 0,
    input_tokens    BIGINT NOT NULL DEFAULT 0,
    output_tokens   BIGINT NOT NULL DEFAULT 0,
    thought_tokens  BIGINT NOT NULL DEFAULT 0,
    cached_tokens   BIGINT NOT NULL DEFAULT 0,
    cost            DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, day, api_key_id, model)
){{without_rowid}};
