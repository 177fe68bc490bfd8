-- +goose Up
-- A stable, cookie-bound device identifier on every login session, and the device
-- selector for revocations ("every session from this device").
ALTER TABLE login_sessions ADD COLUMN device_id TEXT NOT NULL DEFAULT '';
CREATE INDEX login_sessions_device_idx ON login_sessions (device_id);
ALTER TABLE revocations DROP CONSTRAINT revocations_selector_type_check;
ALTER TABLE revocations ADD CONSTRAINT revocations_selector_type_check
    CHECK (selector_type IN ('token', 'session', 'subject', 'client', 'device'));

-- +goose Down
DELETE FROM revocations WHERE selector_type = 'device';
ALTER TABLE revocations DROP CONSTRAINT revocations_selector_type_check;
ALTER TABLE revocations ADD CONSTRAINT revocations_selector_type_check
    CHECK (selector_type IN ('token', 'session', 'subject', 'client'));
DROP INDEX login_sessions_device_idx;
ALTER TABLE login_sessions DROP COLUMN device_id;
