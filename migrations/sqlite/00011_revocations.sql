-- +goose Up
-- SQLite twin of postgres/00011_revocations.sql.
-- Revocations requested through the SOAR API (and later every other path): written in
-- the same transaction that deactivates what they match, so a revocation that was
-- answered is durable.
CREATE TABLE revocations (
    id               TEXT PRIMARY KEY,
    selector_type    TEXT NOT NULL CHECK (selector_type IN ('token', 'session', 'subject', 'client')),
    selector_value   TEXT NOT NULL,             -- for a token: its SHA-256, never the token
    reason           TEXT NOT NULL,
    suspend          BOOLEAN NOT NULL DEFAULT FALSE,
    actor            TEXT NOT NULL,             -- client that asked
    idempotency_key  TEXT,
    sessions         INTEGER NOT NULL DEFAULT 0, -- login sessions ended
    tokens           INTEGER NOT NULL DEFAULT 0, -- codes and tokens deactivated
    created_at       TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX revocations_idempotency_uq ON revocations (actor, idempotency_key);
CREATE INDEX revocations_created_idx ON revocations (created_at);

-- +goose Down
DROP TABLE revocations;
