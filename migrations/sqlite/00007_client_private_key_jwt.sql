-- +goose NO TRANSACTION
-- +goose Up
-- SQLite twin of postgres/00007_client_private_key_jwt.sql. SQLite cannot drop a CHECK
-- constraint, so the table is rebuilt the way the SQLite manual prescribes ("Making
-- Other Kinds Of Table Schema Changes"): foreign keys off, so that dropping the old table
-- does not cascade into tokens and consents; copy; rename; check; foreign keys on.
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE oauth_clients_new (
    id                          TEXT PRIMARY KEY,
    name                        TEXT NOT NULL,
    client_type                 TEXT NOT NULL CHECK (client_type IN ('confidential', 'public')),
    secret_hash                 TEXT,
    redirect_uris               TEXT NOT NULL DEFAULT '[]',
    grant_types                 TEXT NOT NULL DEFAULT '[]',
    scopes                      TEXT NOT NULL DEFAULT '[]',
    owner_id                    TEXT REFERENCES users (id) ON DELETE RESTRICT,
    created_at                  TIMESTAMP NOT NULL,
    updated_at                  TIMESTAMP NOT NULL,
    introspection               BOOLEAN NOT NULL DEFAULT FALSE,
    first_party                 BOOLEAN NOT NULL DEFAULT FALSE,
    post_logout_redirect_uris   TEXT NOT NULL DEFAULT '[]',
    access_token_format         TEXT NOT NULL DEFAULT 'opaque' CHECK (access_token_format IN ('opaque', 'jwt')),
    token_endpoint_auth_method  TEXT NOT NULL DEFAULT '' CHECK (token_endpoint_auth_method IN ('', 'private_key_jwt')),
    jwks                        TEXT NOT NULL DEFAULT '',
    CONSTRAINT oauth_clients_credentials_check CHECK (
        (client_type = 'public' AND secret_hash IS NULL AND token_endpoint_auth_method = '') OR
        (client_type = 'confidential' AND token_endpoint_auth_method = '' AND secret_hash IS NOT NULL) OR
        (client_type = 'confidential' AND token_endpoint_auth_method = 'private_key_jwt' AND secret_hash IS NULL AND jwks <> ''))
);
INSERT INTO oauth_clients_new (id, name, client_type, secret_hash, redirect_uris, grant_types, scopes, owner_id,
    created_at, updated_at, introspection, first_party, post_logout_redirect_uris, access_token_format)
SELECT id, name, client_type, secret_hash, redirect_uris, grant_types, scopes, owner_id,
    created_at, updated_at, introspection, first_party, post_logout_redirect_uris, access_token_format
FROM oauth_clients;
DROP TABLE oauth_clients;
ALTER TABLE oauth_clients_new RENAME TO oauth_clients;
CREATE INDEX oauth_clients_owner_idx ON oauth_clients (owner_id);
COMMIT;
PRAGMA foreign_keys = ON;

-- +goose Down
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE oauth_clients_old (
    id                          TEXT PRIMARY KEY,
    name                        TEXT NOT NULL,
    client_type                 TEXT NOT NULL CHECK (client_type IN ('confidential', 'public')),
    secret_hash                 TEXT,
    redirect_uris               TEXT NOT NULL DEFAULT '[]',
    grant_types                 TEXT NOT NULL DEFAULT '[]',
    scopes                      TEXT NOT NULL DEFAULT '[]',
    owner_id                    TEXT REFERENCES users (id) ON DELETE RESTRICT,
    created_at                  TIMESTAMP NOT NULL,
    updated_at                  TIMESTAMP NOT NULL,
    introspection               BOOLEAN NOT NULL DEFAULT FALSE,
    first_party                 BOOLEAN NOT NULL DEFAULT FALSE,
    post_logout_redirect_uris   TEXT NOT NULL DEFAULT '[]',
    access_token_format         TEXT NOT NULL DEFAULT 'opaque' CHECK (access_token_format IN ('opaque', 'jwt')),
    CHECK ((client_type = 'public') = (secret_hash IS NULL))
);
INSERT INTO oauth_clients_old SELECT id, name, client_type, secret_hash, redirect_uris, grant_types, scopes, owner_id,
    created_at, updated_at, introspection, first_party, post_logout_redirect_uris, access_token_format
FROM oauth_clients WHERE token_endpoint_auth_method = '';
DROP TABLE oauth_clients;
ALTER TABLE oauth_clients_old RENAME TO oauth_clients;
CREATE INDEX oauth_clients_owner_idx ON oauth_clients (owner_id);
COMMIT;
PRAGMA foreign_keys = ON;
