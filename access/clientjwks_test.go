package access_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/identity"
)

func jwksJSON(t *testing.T, keys ...jose.JSONWebKey) string {
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPrivateKeyJWTRegistration(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaSmall, _ := rsa.GenerateKey(rand.Reader, 1024)
	pub := jose.JSONWebKey{Key: &ec.PublicKey, KeyID: "a", Algorithm: "ES256", Use: "sig"}
	base := access.ClientSpec{ID: "svc", Name: "Service", Type: access.Confidential, GrantTypes: []string{access.GrantClientCredentials},
		TokenEndpointAuthMethod: access.AuthPrivateKeyJWT}
	cases := []struct {
		name  string
		mod   func(*access.ClientSpec)
		field string // "" = valid
	}{
		{"valid", func(s *access.ClientSpec) { s.JWKS = jwksJSON(t, pub) }, ""},
		{"no keys", func(s *access.ClientSpec) {}, "jwks"},
		{"empty set", func(s *access.ClientSpec) { s.JWKS = `{"keys":[]}` }, "jwks"},
		{"not json", func(s *access.ClientSpec) { s.JWKS = `keys` }, "jwks"},
		{"private key", func(s *access.ClientSpec) {
			s.JWKS = jwksJSON(t, jose.JSONWebKey{Key: ec, KeyID: "a", Algorithm: "ES256"})
		}, "jwks"},
		{"symmetric key", func(s *access.ClientSpec) {
			s.JWKS = jwksJSON(t, jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "a", Algorithm: "HS256"})
		}, "jwks"},
		{"alg none", func(s *access.ClientSpec) {
			s.JWKS = jwksJSON(t, jose.JSONWebKey{Key: &ec.PublicKey, KeyID: "a", Algorithm: "none"})
		}, "jwks"},
		{"short RSA", func(s *access.ClientSpec) {
			s.JWKS = jwksJSON(t, jose.JSONWebKey{Key: &rsaSmall.PublicKey, KeyID: "a", Algorithm: "RS256"})
		}, "jwks"},
		{"with a secret too", func(s *access.ClientSpec) { s.JWKS = jwksJSON(t, pub); s.Secret = "abcdefghijklmnop" }, "secret"},
		{"public client", func(s *access.ClientSpec) {
			s.JWKS = jwksJSON(t, pub)
			s.Type = access.Public
			s.GrantTypes = []string{access.GrantAuthorizationCode}
			s.RedirectURIs = []string{"https://a.example.com/cb"}
		}, "token_endpoint_auth_method"},
		{"keys without the method", func(s *access.ClientSpec) {
			s.JWKS = jwksJSON(t, pub)
			s.TokenEndpointAuthMethod = ""
			s.Secret = "abcdefghijklmnop"
		}, "jwks"},
		{"unknown method", func(s *access.ClientSpec) { s.TokenEndpointAuthMethod = "client_secret_jwt" }, "token_endpoint_auth_method"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := base
			tc.mod(&s)
			err := s.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			var ve *identity.ValidationError
			if !errors.As(err, &ve) || ve.Field != tc.field {
				t.Fatalf("Validate() = %v, want a %s error", err, tc.field)
			}
		})
	}
}
