-- +goose Up
-- The directory: users, password credentials, groups, memberships, machine identities,
-- and the OAuth client definitions that `weft apply` stores for the OIDC provider.
-- Ids are opaque text (UUIDs) so that they can become OIDC `sub` values unchanged.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL,
    username_key  TEXT NOT NULL,   -- PRECIS UsernameCaseMapped + NFKC form, see identity.NormalizeUsername
    email         TEXT,
    email_key     TEXT,            -- lower-cased email; NULL when the user has none
    display_name  TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL DEFAULT 'active'
                  CHECK (status IN ('active', 'suspended', 'deprovisioned')),
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX users_username_key_uq ON users (username_key);
CREATE UNIQUE INDEX users_email_key_uq ON users (email_key);
CREATE INDEX users_status_idx ON users (status);

CREATE TABLE password_credentials (
    user_id     TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    hash        TEXT NOT NULL,    -- argon2id PHC string
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE groups (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    name_key     TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX groups_name_key_uq ON groups (name_key);

CREATE TABLE group_members (
    group_id    TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user_idx ON group_members (user_id);

CREATE TABLE machine_identities (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    name_key     TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    owner_id     TEXT NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX machine_identities_name_key_uq ON machine_identities (name_key);
CREATE INDEX machine_identities_owner_idx ON machine_identities (owner_id);

CREATE TABLE oauth_clients (
    id             TEXT PRIMARY KEY,            -- the OAuth client_id
    name           TEXT NOT NULL,
    client_type    TEXT NOT NULL CHECK (client_type IN ('confidential', 'public')),
    secret_hash    TEXT,                        -- argon2id PHC string; NULL for public clients
    redirect_uris  TEXT NOT NULL DEFAULT '[]',  -- JSON array, compared by exact string match
    grant_types    TEXT NOT NULL DEFAULT '[]',  -- JSON array
    scopes         TEXT NOT NULL DEFAULT '[]',  -- JSON array
    owner_id       TEXT REFERENCES users (id) ON DELETE RESTRICT,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    CHECK ((client_type = 'public') = (secret_hash IS NULL))
);
CREATE INDEX oauth_clients_owner_idx ON oauth_clients (owner_id);

-- +goose Down
DROP TABLE oauth_clients;
DROP TABLE machine_identities;
DROP TABLE group_members;
DROP TABLE groups;
DROP TABLE password_credentials;
DROP TABLE users;
