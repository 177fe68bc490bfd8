-- +goose Up
-- Per-client access-token format: opaque HMAC tokens (default) or JWT (RFC 9068).
ALTER TABLE oauth_clients ADD COLUMN access_token_format TEXT NOT NULL DEFAULT 'opaque'
    CHECK (access_token_format IN ('opaque', 'jwt'));

-- +goose Down
ALTER TABLE oauth_clients DROP COLUMN access_token_format;
