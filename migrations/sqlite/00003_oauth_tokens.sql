-- +goose Up
-- SQLite twin of postgres/00003_oauth_tokens.sql: same tables, constraints and (partial)
-- indexes; timestamps as UTC text written by the driver, booleans as 0/1.
-- fosite's grant storage (see access/fositestore): one table per kind, all of one shape.
-- Keys are token signatures (or a SHA-256 of the code for OIDC sessions), never tokens.
-- request_id ties a grant's codes and tokens together: fosite revokes by it. sid is the
-- login session the grant was issued in (NULL for machine tokens); later revocation of
-- the login session reaches every token through it. expires_at is NULL for tokens that
-- never expire. form holds only fosite's sanitised request parameters, but it is still
-- never logged. session_data is the fosite session as JSON.

CREATE TABLE oauth_authorization_codes (
    signature           TEXT PRIMARY KEY,
    request_id          TEXT NOT NULL,
    client_id           TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    subject             TEXT NOT NULL DEFAULT '',
    sid                 TEXT,
    requested_at        TIMESTAMP NOT NULL,
    expires_at          TIMESTAMP,
    active              BOOLEAN NOT NULL DEFAULT TRUE,
    requested_scopes    TEXT NOT NULL DEFAULT '[]',   -- JSON arrays
    granted_scopes      TEXT NOT NULL DEFAULT '[]',
    requested_audience  TEXT NOT NULL DEFAULT '[]',
    granted_audience    TEXT NOT NULL DEFAULT '[]',
    form                TEXT NOT NULL DEFAULT '',
    session_data        TEXT NOT NULL
);
CREATE INDEX oauth_authorization_codes_request_idx ON oauth_authorization_codes (request_id);
CREATE INDEX oauth_authorization_codes_client_idx ON oauth_authorization_codes (client_id);
CREATE INDEX oauth_authorization_codes_subject_idx ON oauth_authorization_codes (subject);
CREATE INDEX oauth_authorization_codes_sid_idx ON oauth_authorization_codes (sid) WHERE sid IS NOT NULL;
CREATE INDEX oauth_authorization_codes_expires_idx ON oauth_authorization_codes (expires_at);

CREATE TABLE oauth_access_tokens (
    signature           TEXT PRIMARY KEY,
    request_id          TEXT NOT NULL,
    client_id           TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    subject             TEXT NOT NULL DEFAULT '',
    sid                 TEXT,
    requested_at        TIMESTAMP NOT NULL,
    expires_at          TIMESTAMP,
    active              BOOLEAN NOT NULL DEFAULT TRUE,
    requested_scopes    TEXT NOT NULL DEFAULT '[]',
    granted_scopes      TEXT NOT NULL DEFAULT '[]',
    requested_audience  TEXT NOT NULL DEFAULT '[]',
    granted_audience    TEXT NOT NULL DEFAULT '[]',
    form                TEXT NOT NULL DEFAULT '',
    session_data        TEXT NOT NULL
);
CREATE INDEX oauth_access_tokens_request_idx ON oauth_access_tokens (request_id);
CREATE INDEX oauth_access_tokens_client_idx ON oauth_access_tokens (client_id);
CREATE INDEX oauth_access_tokens_subject_idx ON oauth_access_tokens (subject);
CREATE INDEX oauth_access_tokens_sid_idx ON oauth_access_tokens (sid) WHERE sid IS NOT NULL;
CREATE INDEX oauth_access_tokens_expires_idx ON oauth_access_tokens (expires_at);

CREATE TABLE oauth_refresh_tokens (
    signature           TEXT PRIMARY KEY,
    request_id          TEXT NOT NULL,
    client_id           TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    subject             TEXT NOT NULL DEFAULT '',
    sid                 TEXT,
    requested_at        TIMESTAMP NOT NULL,
    expires_at          TIMESTAMP,
    active              BOOLEAN NOT NULL DEFAULT TRUE,
    requested_scopes    TEXT NOT NULL DEFAULT '[]',
    granted_scopes      TEXT NOT NULL DEFAULT '[]',
    requested_audience  TEXT NOT NULL DEFAULT '[]',
    granted_audience    TEXT NOT NULL DEFAULT '[]',
    form                TEXT NOT NULL DEFAULT '',
    session_data        TEXT NOT NULL,
    access_signature    TEXT NOT NULL DEFAULT ''      -- the access token issued with it
);
CREATE INDEX oauth_refresh_tokens_request_idx ON oauth_refresh_tokens (request_id);
CREATE INDEX oauth_refresh_tokens_client_idx ON oauth_refresh_tokens (client_id);
CREATE INDEX oauth_refresh_tokens_subject_idx ON oauth_refresh_tokens (subject);
CREATE INDEX oauth_refresh_tokens_sid_idx ON oauth_refresh_tokens (sid) WHERE sid IS NOT NULL;
CREATE INDEX oauth_refresh_tokens_expires_idx ON oauth_refresh_tokens (expires_at);

CREATE TABLE oauth_pkce_requests (
    signature           TEXT PRIMARY KEY,             -- the authorization code's signature
    request_id          TEXT NOT NULL,
    client_id           TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    subject             TEXT NOT NULL DEFAULT '',
    sid                 TEXT,
    requested_at        TIMESTAMP NOT NULL,
    expires_at          TIMESTAMP,
    active              BOOLEAN NOT NULL DEFAULT TRUE,
    requested_scopes    TEXT NOT NULL DEFAULT '[]',
    granted_scopes      TEXT NOT NULL DEFAULT '[]',
    requested_audience  TEXT NOT NULL DEFAULT '[]',
    granted_audience    TEXT NOT NULL DEFAULT '[]',
    form                TEXT NOT NULL DEFAULT '',     -- code_challenge and its method
    session_data        TEXT NOT NULL
);
CREATE INDEX oauth_pkce_requests_request_idx ON oauth_pkce_requests (request_id);
CREATE INDEX oauth_pkce_requests_client_idx ON oauth_pkce_requests (client_id);
CREATE INDEX oauth_pkce_requests_expires_idx ON oauth_pkce_requests (expires_at);

CREATE TABLE oauth_oidc_sessions (
    signature           TEXT PRIMARY KEY,             -- SHA-256 (hex) of the authorization code
    request_id          TEXT NOT NULL,
    client_id           TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    subject             TEXT NOT NULL DEFAULT '',
    sid                 TEXT,
    requested_at        TIMESTAMP NOT NULL,
    expires_at          TIMESTAMP,
    active              BOOLEAN NOT NULL DEFAULT TRUE,
    requested_scopes    TEXT NOT NULL DEFAULT '[]',
    granted_scopes      TEXT NOT NULL DEFAULT '[]',
    requested_audience  TEXT NOT NULL DEFAULT '[]',
    granted_audience    TEXT NOT NULL DEFAULT '[]',
    form                TEXT NOT NULL DEFAULT '',     -- nonce and the other OIDC parameters
    session_data        TEXT NOT NULL
);
CREATE INDEX oauth_oidc_sessions_request_idx ON oauth_oidc_sessions (request_id);
CREATE INDEX oauth_oidc_sessions_client_idx ON oauth_oidc_sessions (client_id);
CREATE INDEX oauth_oidc_sessions_expires_idx ON oauth_oidc_sessions (expires_at);

-- JWT IDs of client assertions (private_key_jwt) seen until their expiry: replay guard
-- shared by every node.
CREATE TABLE oauth_jtis (
    jti         TEXT PRIMARY KEY,
    expires_at  TIMESTAMP NOT NULL
);
CREATE INDEX oauth_jtis_expires_idx ON oauth_jtis (expires_at);

-- +goose Down
DROP TABLE oauth_jtis;
DROP TABLE oauth_oidc_sessions;
DROP TABLE oauth_pkce_requests;
DROP TABLE oauth_refresh_tokens;
DROP TABLE oauth_access_tokens;
DROP TABLE oauth_authorization_codes;
