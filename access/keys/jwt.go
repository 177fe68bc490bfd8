package keys

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/json"

	"github.com/go-jose/go-jose/v4"
)

// TokenHMACSecret derives the secret that signs opaque tokens from the KEK, so that an
// operator configures one secret, not two. Changing the KEK therefore invalidates every
// outstanding code and token, which is what rotating a compromised KEK should do.
func TokenHMACSecret(kek []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, kek, nil, "weft token hmac v1", 32)
}

// SignJWT signs claims as a compact JWS with the current ES256 key, carrying its kid and
// typ (logout tokens, security event tokens), through go-jose v4.
func (m *Manager) SignJWT(ctx context.Context, claims map[string]any, typ string) (string, error) {
	kid, priv, err := m.SigningKey(ctx, ES256)
	if err != nil {
		return "", err
	}
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader("kid", kid)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv}, opts)
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// BusKey derives the key that authenticates messages on the revocation bus between
// nodes from the KEK, which every node shares and Redis never sees.
func BusKey(kek []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, kek, nil, "weft revocation bus v1", 32)
}
