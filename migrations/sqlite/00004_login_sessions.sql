-- +goose Up
-- Browser login sessions (OIDC `sid`) and remembered consent.

CREATE TABLE login_sessions (
    id            TEXT PRIMARY KEY,             -- the sid; not secret
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret_hash   BLOB NOT NULL,               -- SHA-256 of the cookie secret
    auth_time     TIMESTAMP NOT NULL,
    amr           TEXT NOT NULL DEFAULT '[]',   -- JSON array (RFC 8176)
    acr           TEXT NOT NULL DEFAULT '',
    ip            TEXT NOT NULL DEFAULT '',
    user_agent    TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMP NOT NULL,
    last_seen_at  TIMESTAMP NOT NULL,
    expires_at    TIMESTAMP NOT NULL,
    revoked_at    TIMESTAMP
);
CREATE INDEX login_sessions_user_idx ON login_sessions (user_id);
CREATE INDEX login_sessions_expires_idx ON login_sessions (expires_at);

CREATE TABLE oauth_consents (
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    scopes      TEXT NOT NULL DEFAULT '[]',     -- JSON array of granted scopes
    granted_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- +goose Down
DROP TABLE oauth_consents;
DROP TABLE login_sessions;
