-- +goose Up
-- OIDC Back-Channel Logout: where a client wants logout tokens, and the persistent
-- outbox that delivers them (and, later, security event tokens) with retries, so a
-- receiver that is down gets every message once it is back and a restart loses nothing.
ALTER TABLE oauth_clients ADD COLUMN backchannel_logout_uri TEXT NOT NULL DEFAULT '';

CREATE TABLE outbox (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,             -- e.g. backchannel_logout
    target           TEXT NOT NULL,             -- URL to POST to
    payload          TEXT NOT NULL,             -- JSON: what to sign and send
    revocation_id    TEXT,                      -- the revocation that caused it, if any
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    delivered_at     TIMESTAMPTZ,
    last_error       TEXT NOT NULL DEFAULT '',
    created_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at) WHERE delivered_at IS NULL;
CREATE INDEX outbox_revocation_idx ON outbox (revocation_id);

-- +goose Down
DROP TABLE outbox;
ALTER TABLE oauth_clients DROP COLUMN backchannel_logout_uri;
