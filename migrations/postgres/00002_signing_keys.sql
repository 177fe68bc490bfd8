-- +goose Up
-- Signing keys of the OIDC provider (see access/keys). Each algorithm has a ring:
-- 'next' (published in JWKS, not signing yet), 'current' (signs; at most one per alg)
-- and 'retired' (still published until retire_after, then pruned).
-- The kid is the RFC 7638 SHA-256 thumbprint of the public key (base64url).
-- private_key is the PKCS#8 DER encrypted with AES-256-GCM under the key-encryption key
-- from configuration; the kid, alg and public key are its additional authenticated data,
-- so rows cannot be swapped and the clear public key cannot be replaced unnoticed.

CREATE TABLE signing_keys (
    kid           TEXT PRIMARY KEY,
    alg           TEXT NOT NULL CHECK (alg IN ('ES256', 'RS256')),
    state         TEXT NOT NULL CHECK (state IN ('next', 'current', 'retired')),
    public_key    BYTEA NOT NULL,               -- PKIX DER, in clear
    private_key   BYTEA NOT NULL,               -- AES-256-GCM(PKCS#8 DER), tag appended
    nonce         BYTEA NOT NULL CHECK (octet_length(nonce) = 12),
    created_at    TIMESTAMPTZ NOT NULL,
    activated_at  TIMESTAMPTZ,                  -- when it became current
    retire_after  TIMESTAMPTZ,                  -- retired keys only: prune after this
    CHECK ((state = 'retired') = (retire_after IS NOT NULL)),
    CHECK (state = 'next' OR activated_at IS NOT NULL)
);
-- At most one signing key and one waiting key per algorithm, whatever the callers do.
CREATE UNIQUE INDEX signing_keys_current_uq ON signing_keys (alg) WHERE state = 'current';
CREATE UNIQUE INDEX signing_keys_next_uq ON signing_keys (alg) WHERE state = 'next';
CREATE INDEX signing_keys_retire_after_idx ON signing_keys (retire_after) WHERE state = 'retired';

-- +goose Down
DROP TABLE signing_keys;
