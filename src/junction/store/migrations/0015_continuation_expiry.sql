-- Continuation tokens expire (continuation_token_ttl_seconds) and are purged by the
-- retention pass; hop rows go with their interaction. Tokens issued before this
-- migration have expires_ms 0: expired, purged at the next pass.
ALTER TABLE continuation_tokens ADD COLUMN expires_ms BIGINT NOT NULL DEFAULT 0;
CREATE INDEX continuation_tokens_by_expiry ON continuation_tokens (project_id, expires_ms);
CREATE INDEX continuation_tokens_by_issuer ON continuation_tokens (project_id, issuer_id);
CREATE INDEX continuation_hops_by_run ON continuation_hops (project_id, run_id);
