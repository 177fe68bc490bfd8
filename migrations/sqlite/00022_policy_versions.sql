-- +goose Up
-- SQLite twin of postgres/00022_policy_versions.sql.
CREATE TABLE policy_versions (
    version     INTEGER PRIMARY KEY CHECK (version > 0),
    policies    TEXT NOT NULL,
    schema_text TEXT NOT NULL DEFAULT '',
    tests       TEXT NOT NULL DEFAULT '[]',
    author      TEXT NOT NULL,
    comment     TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMP NOT NULL
);

-- +goose StatementBegin
CREATE TRIGGER policy_versions_no_update BEFORE UPDATE ON policy_versions
BEGIN
    SELECT RAISE(ABORT, 'policy_versions rows never change');
END;
-- +goose StatementEnd

-- +goose Down
DROP TABLE policy_versions;
