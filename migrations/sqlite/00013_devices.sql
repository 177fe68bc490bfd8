-- +goose Up
-- SQLite twin of postgres/00013_devices.sql. SQLite cannot change a CHECK constraint,
-- so revocations (referenced by nothing) is rebuilt.
ALTER TABLE login_sessions ADD COLUMN device_id TEXT NOT NULL DEFAULT '';
CREATE INDEX login_sessions_device_idx ON login_sessions (device_id);
CREATE TABLE revocations_new (
    id               TEXT PRIMARY KEY,
    selector_type    TEXT NOT NULL CHECK (selector_type IN ('token', 'session', 'subject', 'client', 'device')),
    selector_value   TEXT NOT NULL,
    reason           TEXT NOT NULL,
    suspend          BOOLEAN NOT NULL DEFAULT FALSE,
    actor            TEXT NOT NULL,
    idempotency_key  TEXT,
    sessions         INTEGER NOT NULL DEFAULT 0,
    tokens           INTEGER NOT NULL DEFAULT 0,
    created_at       TIMESTAMP NOT NULL
);
INSERT INTO revocations_new SELECT id, selector_type, selector_value, reason, suspend, actor, idempotency_key, sessions, tokens, created_at FROM revocations;
DROP TABLE revocations;
ALTER TABLE revocations_new RENAME TO revocations;
CREATE UNIQUE INDEX revocations_idempotency_uq ON revocations (actor, idempotency_key);
CREATE INDEX revocations_created_idx ON revocations (created_at);

-- +goose Down
DELETE FROM revocations WHERE selector_type = 'device';
DROP INDEX login_sessions_device_idx;
ALTER TABLE login_sessions DROP COLUMN device_id;
