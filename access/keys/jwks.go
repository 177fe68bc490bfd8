package keys

import (
	"context"
	"fmt"
	"slices"

	jose "github.com/go-jose/go-jose/v4"
)

// PublicJWKS returns the public keys relying parties verify with: every next, current
// and unexpired retired key of every algorithm, current keys first, each with its kid,
// "alg" and "use": "sig". The slice is the caller's to modify.
func (m *Manager) PublicJWKS(ctx context.Context) (jose.JSONWebKeySet, error) {
	s, err := m.loaded(ctx)
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	return jose.JSONWebKeySet{Keys: slices.Clone(s.jwks.Keys)}, nil
}

// JWKSJSON returns PublicJWKS encoded for the jwks_uri endpoint. The bytes are shared
// by every caller until the next reload and must not be modified.
func (m *Manager) JWKSJSON(ctx context.Context) ([]byte, error) {
	s, err := m.loaded(ctx)
	if err != nil {
		return nil, err
	}
	return s.jwksJSON, nil
}

// verifyAlgs is the allow-list handed to go-jose before anything else is looked at:
// "none", HMAC (which would let someone sign with our public key as the secret) and
// anything else we never sign with are refused while parsing.
var verifyAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.RS256}

// Verify checks a compact JWS (a JWT, a logout or security event token) signed by one
// of our keys and returns its payload. The header must name the kid of a published key
// and that key's own algorithm. It checks the signature only: claims (iss, aud, exp)
// are the caller's. Errors wrap ErrInvalidToken.
func (m *Manager) Verify(ctx context.Context, compact string) ([]byte, error) {
	s, err := m.loaded(ctx)
	if err != nil {
		return nil, err
	}
	jws, err := jose.ParseSignedCompact(compact, verifyAlgs)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("%w: want one signature", ErrInvalidToken)
	}
	h := jws.Signatures[0].Protected
	k := s.byKID[h.KeyID]
	if k == nil {
		return nil, fmt.Errorf("%w: unknown kid %q", ErrInvalidToken, h.KeyID)
	}
	if h.Algorithm != string(k.Alg) {
		return nil, fmt.Errorf("%w: alg %q does not match key %s (%s)", ErrInvalidToken, h.Algorithm, k.KID, k.Alg)
	}
	payload, err := jws.Verify(k.pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return payload, nil
}
