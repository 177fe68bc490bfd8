-- +goose Up
-- What a client may do beyond its grants: call token introspection (gateways), skip the
-- consent page (first-party apps), and where it may be sent after logout.
ALTER TABLE oauth_clients ADD COLUMN introspection BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE oauth_clients ADD COLUMN first_party BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE oauth_clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE oauth_clients DROP COLUMN post_logout_redirect_uris;
ALTER TABLE oauth_clients DROP COLUMN first_party;
ALTER TABLE oauth_clients DROP COLUMN introspection;
