-- +goose Up
-- The revocation fabric's durable log: each revocation keeps the event the fan-out bus
-- carried (so a node that was away replays it), what its node learned about the others
-- when it answered, and one row per node that applied it (the receipt).
ALTER TABLE revocations ADD COLUMN event TEXT NOT NULL DEFAULT '{}';
ALTER TABLE revocations ADD COLUMN fanout TEXT NOT NULL DEFAULT '';

CREATE TABLE revocation_nodes (
    revocation_id  TEXT NOT NULL REFERENCES revocations (id) ON DELETE CASCADE,
    node           TEXT NOT NULL,
    via            TEXT NOT NULL CHECK (via IN ('origin', 'bus', 'log')),
    applied_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (revocation_id, node)
);

-- +goose Down
DROP TABLE revocation_nodes;
ALTER TABLE revocations DROP COLUMN fanout;
ALTER TABLE revocations DROP COLUMN event;
