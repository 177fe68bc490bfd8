package keys

import (
	"context"
	"fmt"
	"maps"

	"github.com/ory/fosite/token/jwt"
)

// FositeKey returns the GetPrivateKey function of fosite's jwt.DefaultSigner for alg.
// It returns the current key as a go-jose v3 *JSONWebKey (fosite's own go-jose) whose
// KeyID is our kid: that is how the kid reaches the header of every token fosite signs,
// the same kid PublicJWKS publishes. Like SigningKey it reads the in-memory snapshot.
//
// DefaultSigner alone verifies (Decode, Validate) against the current key only, so after
// a rotation it rejects tokens signed by the retired key that are still valid. Give
// fosite FositeSigner instead, which signs the same way and verifies against every
// published key.
func (m *Manager) FositeKey(alg Alg) jwt.GetPrivateKeyFunc {
	return func(ctx context.Context) (interface{}, error) {
		s, err := m.loaded(ctx)
		if err != nil {
			return nil, err
		}
		k := s.fosite[alg]
		if k == nil {
			return nil, fmt.Errorf("%w for %s", ErrNoSigningKey, alg)
		}
		return k, nil
	}
}

// FositeSigner returns a fosite jwt.Signer for alg, for the ID token and JWT access
// token strategies and the OpenID request validator (id_token_hint).
//
// Generate signs with the current key of alg, with our kid in the header; a "kid" the
// session put in its headers is dropped, because go-jose would let it override ours.
// Decode and Validate accept a token signed by any published key (next, current, or
// retired and unexpired), chosen by the kid in its header, provided the header's alg is
// that key's own: "none", HMAC and unknown kids are refused.
func (m *Manager) FositeSigner(alg Alg) jwt.Signer {
	return &fositeSigner{m: m, DefaultSigner: jwt.DefaultSigner{GetPrivateKey: m.FositeKey(alg)}}
}

type fositeSigner struct {
	jwt.DefaultSigner // Hash, GetSignature, GetSigningMethodLength
	m                 *Manager
}

var _ jwt.Signer = (*fositeSigner)(nil)

func (f *fositeSigner) Generate(ctx context.Context, claims jwt.MapClaims, header jwt.Mapper) (string, string, error) {
	if header == nil {
		return f.DefaultSigner.Generate(ctx, claims, nil) // fosite's own error for a nil header
	}
	extra := maps.Clone(header.ToMap()) // a Mapper may hand out its own map
	delete(extra, "kid")
	return f.DefaultSigner.Generate(ctx, claims, &jwt.Headers{Extra: extra})
}

func (f *fositeSigner) Decode(ctx context.Context, token string) (*jwt.Token, error) {
	s, err := f.m.loaded(ctx)
	if err != nil {
		return nil, err
	}
	return jwt.ParseWithClaims(token, jwt.MapClaims{}, func(t *jwt.Token) (interface{}, error) {
		kid, _ := t.Header["kid"].(string)
		k := s.byKID[kid]
		if k == nil {
			return nil, fmt.Errorf("%w: unknown kid %q", ErrInvalidToken, kid)
		}
		if string(t.Method) != string(k.Alg) {
			return nil, fmt.Errorf("%w: alg %q does not match key %s (%s)", ErrInvalidToken, t.Method, k.KID, k.Alg)
		}
		return k.pub, nil
	})
}

func (f *fositeSigner) Validate(ctx context.Context, token string) (string, error) {
	if _, err := f.Decode(ctx, token); err != nil {
		return "", err
	}
	return f.GetSignature(ctx, token)
}
