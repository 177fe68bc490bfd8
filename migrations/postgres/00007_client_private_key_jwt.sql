-- +goose Up
-- private_key_jwt client authentication (RFC 7523): the client proves itself with a JWT
-- signed by a key in its registered JWKS, so a confidential client may have no secret.
ALTER TABLE oauth_clients ADD COLUMN token_endpoint_auth_method TEXT NOT NULL DEFAULT ''
    CHECK (token_endpoint_auth_method IN ('', 'private_key_jwt'));
ALTER TABLE oauth_clients ADD COLUMN jwks TEXT NOT NULL DEFAULT '';   -- public JWK Set, JSON
ALTER TABLE oauth_clients DROP CONSTRAINT oauth_clients_check;
ALTER TABLE oauth_clients ADD CONSTRAINT oauth_clients_credentials_check CHECK (
    (client_type = 'public' AND secret_hash IS NULL AND token_endpoint_auth_method = '') OR
    (client_type = 'confidential' AND token_endpoint_auth_method = '' AND secret_hash IS NOT NULL) OR
    (client_type = 'confidential' AND token_endpoint_auth_method = 'private_key_jwt' AND secret_hash IS NULL AND jwks <> ''));

-- +goose Down
ALTER TABLE oauth_clients DROP CONSTRAINT oauth_clients_credentials_check;
DELETE FROM oauth_clients WHERE token_endpoint_auth_method = 'private_key_jwt';
ALTER TABLE oauth_clients ADD CONSTRAINT oauth_clients_check CHECK ((client_type = 'public') = (secret_hash IS NULL));
ALTER TABLE oauth_clients DROP COLUMN jwks;
ALTER TABLE oauth_clients DROP COLUMN token_endpoint_auth_method;
