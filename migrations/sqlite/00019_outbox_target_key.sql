-- +goose Up
-- The delivery target a message counts against (issue 9, M1): the outbox worker bounds
-- how many messages it sends at once to one target and backs a failing target off as a
-- whole, so one receiver that hangs or fails cannot hold up the others. It is the
-- receiving client ("bcl:<client>" for a relying party's back-channel logout,
-- "ssf:<client>" for a receiver's push streams), or the URL for older rows.
ALTER TABLE outbox ADD COLUMN target_key TEXT NOT NULL DEFAULT '';
UPDATE outbox SET target_key = target;
CREATE INDEX outbox_target_key_idx ON outbox (target_key, next_attempt_at) WHERE delivered_at IS NULL;

-- +goose Down
DROP INDEX outbox_target_key_idx;
ALTER TABLE outbox DROP COLUMN target_key;
