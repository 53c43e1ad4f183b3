-- Webhooks (REFERENCE 9.3): static endpoints per project. `events` holds the subscribed
-- event types as ",a,b," (matched with LIKE in the outbox fan-out); `secrets` is the
-- Fernet-encrypted JSON list of signing secrets; `failures` counts consecutive messages
-- that were given up on (auto-disable).
CREATE TABLE webhooks (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL,
    name        TEXT,
    uri         TEXT NOT NULL,
    events      TEXT NOT NULL,
    state       TEXT NOT NULL,
    secrets     TEXT NOT NULL,
    secret_info TEXT NOT NULL,
    failures    INTEGER NOT NULL DEFAULT 0,
    created     TEXT NOT NULL,
    updated     TEXT NOT NULL
);
CREATE INDEX webhooks_by_project ON webhooks (project_id, id);

-- The outbox: one row per message and destination, written in the transaction that
-- produced the event. `message_id` is the webhook-id header (the same on every retry);
-- `webhook_id` is NULL for a dynamic destination (`uri` set instead). A pending row is
-- due at `next_attempt_ms`; a claim pushes that forward by the attempt's lease.
CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    message_id       TEXT NOT NULL,
    project_id       TEXT NOT NULL,
    webhook_id       TEXT,
    uri              TEXT,
    user_metadata    TEXT,
    event_type       TEXT NOT NULL,
    payload          TEXT NOT NULL,
    state            TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms  BIGINT NOT NULL,
    created_ms       BIGINT NOT NULL,
    last_status      INTEGER,
    last_error       TEXT,
    history          TEXT,
    created          TEXT NOT NULL,
    updated          TEXT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_ms)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, state, id);

-- RS256 keys signing dynamic (per-request) webhook deliveries; the private key is
-- Fernet-encrypted. The newest active key signs; retired keys stay in the JWKS until
-- they are deleted (`junction webhook-keys`).
CREATE TABLE webhook_signing_keys (
    kid          TEXT PRIMARY KEY,
    private_key  TEXT NOT NULL,
    public_jwk   TEXT NOT NULL,
    state        TEXT NOT NULL,
    created      TEXT NOT NULL
);
