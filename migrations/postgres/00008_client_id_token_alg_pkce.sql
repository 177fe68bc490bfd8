-- +goose Up
-- Per-client ID-token signing algorithm (RS256 for relying parties that cannot verify
-- ES256) and PKCE opt-out for confidential clients (PKCE stays required by default).
ALTER TABLE oauth_clients ADD COLUMN id_token_signed_response_alg TEXT NOT NULL DEFAULT 'ES256'
    CHECK (id_token_signed_response_alg IN ('ES256', 'RS256'));
ALTER TABLE oauth_clients ADD COLUMN pkce_required BOOLEAN NOT NULL DEFAULT TRUE;

-- +goose Down
ALTER TABLE oauth_clients DROP COLUMN pkce_required;
ALTER TABLE oauth_clients DROP COLUMN id_token_signed_response_alg;
