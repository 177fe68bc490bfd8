-- +goose Up
-- A confidential client may be the credential of a machine identity: its
-- client_credentials tokens then name the machine identity as their subject, so that
-- revoking or auditing the machine reaches every client it authenticates with.
ALTER TABLE oauth_clients ADD COLUMN machine_identity_id TEXT REFERENCES machine_identities (id) ON DELETE RESTRICT;
CREATE INDEX oauth_clients_machine_identity_idx ON oauth_clients (machine_identity_id);

-- +goose Down
DROP INDEX oauth_clients_machine_identity_idx;
ALTER TABLE oauth_clients DROP COLUMN machine_identity_id;
