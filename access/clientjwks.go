package access

import (
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-jose/go-jose/v4"
)

// AuthPrivateKeyJWT is the RFC 7523 client authentication method.
const AuthPrivateKeyJWT = "private_key_jwt"

// clientAssertionAlgs are the algorithms accepted for client assertions: asymmetric
// only, so that no shared secret and no "none" can stand in for a signature.
var clientAssertionAlgs = map[string]bool{"ES256": true, "ES384": true, "RS256": true, "PS256": true}

// JWKSAlgorithm checks a client's JWK Set for private_key_jwt and returns the one
// signing algorithm its keys declare: public keys only (a private or symmetric key in a
// registration is a leak or a mistake), 1 to 10 keys, RSA at least 2048 bits, every key
// with the same "alg".
func JWKSAlgorithm(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("a private_key_jwt client needs its public keys (jwks)")
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(raw), &set); err != nil {
		return "", fmt.Errorf("not a JWK Set: %v", err)
	}
	if len(set.Keys) == 0 || len(set.Keys) > 10 {
		return "", errors.New("must hold 1 to 10 keys")
	}
	alg := ""
	for i, k := range set.Keys {
		if !k.Valid() || !k.IsPublic() {
			return "", fmt.Errorf("key %d must be a valid public key (no private or symmetric keys)", i)
		}
		if !clientAssertionAlgs[k.Algorithm] {
			return "", fmt.Errorf("key %d: alg must be one of ES256, ES384, RS256, PS256", i)
		}
		if k.Use != "" && k.Use != "sig" {
			return "", fmt.Errorf("key %d: use must be sig", i)
		}
		if pub, ok := k.Key.(*rsa.PublicKey); ok && pub.N.BitLen() < 2048 {
			return "", fmt.Errorf("key %d: RSA keys must have at least 2048 bits", i)
		}
		if alg != "" && k.Algorithm != alg {
			return "", errors.New("all keys must use the same alg")
		}
		alg = k.Algorithm
	}
	return alg, nil
}
