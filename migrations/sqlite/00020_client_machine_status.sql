-- +goose Up
-- Containment for clients and machine identities: a disabled client authenticates no
-- more and a disabled machine identity gets no new tokens (until enabled again).
-- Rotating a client's secret keeps the previous hash until previous_secret_expires_at,
-- the overlap an administrator asked for, so deployments can roll the new secret out;
-- after it (or at once, without overlap) the old secret is refused.
ALTER TABLE oauth_clients ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE oauth_clients ADD COLUMN previous_secret_hash TEXT;
ALTER TABLE oauth_clients ADD COLUMN previous_secret_expires_at TIMESTAMP;
ALTER TABLE machine_identities ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
-- A revocation that also disabled its client or machine identity says so in its receipt.
ALTER TABLE revocations ADD COLUMN disable BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE revocations DROP COLUMN disable;
ALTER TABLE machine_identities DROP COLUMN status;
ALTER TABLE oauth_clients DROP COLUMN previous_secret_expires_at;
ALTER TABLE oauth_clients DROP COLUMN previous_secret_hash;
ALTER TABLE oauth_clients DROP COLUMN status;
