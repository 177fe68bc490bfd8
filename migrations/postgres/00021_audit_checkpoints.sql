-- +goose Up
-- Checkpoints of the keyed audit chain (identity.AuditLog, issue 9 L4). From this
-- version on each audit_log.hash is an HMAC-SHA256 under a key derived from the
-- key-encryption key, which the database does not hold. A checkpoint vouches, under a
-- second derived key, that entry seq had link head at time at, and that the entries up
-- to legacy_until were written keyless, before the upgrade (the first checkpoint, written
-- by the first upgraded process, is that seal). Checkpoints are also kept outside the
-- database (data_dir/audit-head, the logs), so removing the newest entries shows.
-- Append-only like the log itself.
CREATE TABLE audit_checkpoints (
    id            BIGSERIAL PRIMARY KEY,
    seq           BIGINT NOT NULL,
    head          TEXT NOT NULL DEFAULT '',
    legacy_until  BIGINT NOT NULL,
    at            TIMESTAMPTZ NOT NULL,
    node          TEXT NOT NULL DEFAULT '',
    mac           TEXT NOT NULL
);
-- +goose StatementBegin
CREATE FUNCTION audit_checkpoints_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_checkpoints is append-only';
END;
$$ LANGUAGE plpgsql;
-- +goose StatementEnd
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_checkpoints_append_only();

-- +goose Down
DROP TABLE audit_checkpoints;
DROP FUNCTION audit_checkpoints_append_only();
