-- +goose Up
-- Shared Signals Framework (SSF 1.0) transmitter: the event streams receivers create,
-- and what the outbox needs to carry their security event tokens next to back-channel
-- logout messages. (00014 is taken by another change.)
CREATE TABLE ssf_streams (
    id                    TEXT PRIMARY KEY,
    -- The receiver: the OAuth client that created the stream, which alone may see it;
    -- also the SETs' audience.
    client_id             TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    delivery_method       TEXT NOT NULL CHECK (delivery_method IN ('urn:ietf:rfc:8935', 'urn:ietf:rfc:8936')),
    endpoint_url          TEXT NOT NULL DEFAULT '', -- push only; poll streams use Weft's own poll URL
    authorization_header  TEXT NOT NULL DEFAULT '', -- sent with each push; never shown back
    events_requested      TEXT NOT NULL,            -- JSON array of event type URIs
    description           TEXT NOT NULL DEFAULT '',
    status                TEXT NOT NULL CHECK (status IN ('enabled', 'paused', 'disabled')),
    status_reason         TEXT NOT NULL DEFAULT '',
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL
);
CREATE INDEX ssf_streams_client_idx ON ssf_streams (client_id, created_at);

-- stream_id: the SSF stream a SET is for. pull: the receiver fetches it (RFC 8936 poll),
-- so the outbox worker never claims it and delivered_at is the acknowledgement.
-- failed_at: given up for good (a push receiver's 400, a deleted or disabled stream).
ALTER TABLE outbox ADD COLUMN stream_id TEXT;
ALTER TABLE outbox ADD COLUMN pull BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE outbox ADD COLUMN failed_at TIMESTAMPTZ;
CREATE INDEX outbox_stream_idx ON outbox (stream_id, created_at) WHERE delivered_at IS NULL;

-- +goose Down
DROP INDEX outbox_stream_idx;
ALTER TABLE outbox DROP COLUMN failed_at;
ALTER TABLE outbox DROP COLUMN pull;
ALTER TABLE outbox DROP COLUMN stream_id;
DROP TABLE ssf_streams;
