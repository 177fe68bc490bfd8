-- +goose Up
-- The SHA-256 of what a revocation request asked for (selector, reason, suspend), so a
-- reused Idempotency-Key with a different request is refused rather than answered with
-- the first request's receipt (which would leave the second target live). Rows written
-- before it have '' and compare as unknown.
ALTER TABLE revocations ADD COLUMN request_hash TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE revocations DROP COLUMN request_hash;
