-- +goose Up
-- The risk engine's events (analytics.Event): one row per decision, written in
-- batches off the request path by analytics/sqlstore.Recorder. reasons and outcomes
-- are JSON arrays (reason objects and codes). Rows are only appended; retention is a
-- delete by time.
CREATE TABLE risk_events (
    id            BIGSERIAL PRIMARY KEY,
    at            TIMESTAMPTZ NOT NULL,
    subject       TEXT NOT NULL DEFAULT '',
    subject_kind  TEXT NOT NULL DEFAULT '',
    client_id     TEXT NOT NULL DEFAULT '',
    session_id    TEXT NOT NULL DEFAULT '',
    action        TEXT NOT NULL DEFAULT '',
    ip            TEXT NOT NULL DEFAULT '',
    user_agent    TEXT NOT NULL DEFAULT '',
    device_id     TEXT NOT NULL DEFAULT '',
    country       TEXT NOT NULL DEFAULT '',
    network       TEXT NOT NULL DEFAULT '',
    score         INTEGER NOT NULL,
    level         TEXT NOT NULL,
    reasons       TEXT NOT NULL DEFAULT '[]',
    allowed       BOOLEAN NOT NULL,
    outcomes      TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX risk_events_subject_at_idx ON risk_events (subject, at);
CREATE INDEX risk_events_at_idx ON risk_events (at);

-- +goose Down
DROP TABLE risk_events;
