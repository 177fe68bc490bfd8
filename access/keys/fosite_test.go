package keys_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/token/jwt"

	"github.com/weft-fabric/weft/access/keys"
)

// fosite signs with DefaultSigner and our GetPrivateKey; the token's header carries our
// kid and alg, and a relying party verifies it with the published JWKS (go-jose v4).
func TestFositeDefaultSignerCarriesOurKID(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		if _, err := e.m.EnsureKeys(ctx); err != nil {
			t.Fatal(err)
		}
		for _, alg := range keys.Algs {
			t.Run(string(alg), func(t *testing.T) {
				signer := &jwt.DefaultSigner{GetPrivateKey: e.m.FositeKey(alg)}
				tok, _, err := signer.Generate(ctx, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}, &jwt.Headers{})
				if err != nil {
					t.Fatal(err)
				}
				jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
				if err != nil {
					t.Fatal(err)
				}
				h := jws.Signatures[0].Protected
				if want := kidOf(t, e.m, alg); h.KeyID != want || h.Algorithm != string(alg) {
					t.Errorf("header kid %q alg %q, want %q %s", h.KeyID, h.Algorithm, want, alg)
				}
				kid, err := verifyWithJWKS(fetchJWKS(t, e.m), tok)
				if err != nil || kid != h.KeyID {
					t.Errorf("verify with JWKS: %v", err)
				}
				var claims map[string]any
				if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims); err != nil || claims["sub"] != "alice" {
					t.Errorf("claims %v, %v", claims, err)
				}
			})
		}
	})
}

func jwtSessionRequest(headers map[string]any) *fosite.Request {
	r := fosite.NewRequest()
	r.Session = &oauth2.JWTSession{
		JWTClaims: &jwt.JWTClaims{Subject: "alice", Extra: map[string]any{}},
		JWTHeader: &jwt.Headers{Extra: headers},
		ExpiresAt: map[fosite.TokenType]time.Time{fosite.AccessToken: time.Now().UTC().Add(time.Hour)},
	}
	return r
}

// With FositeSigner, fosite's own JWT access-token strategy keeps accepting tokens
// signed before a rotation; with a bare DefaultSigner it does not.
func TestFositeSigner_JWTAccessTokensSurviveRotation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		if _, err := e.m.EnsureKeys(ctx); err != nil {
			t.Fatal(err)
		}
		cfg := &fosite.Config{AccessTokenIssuer: "https://weft.test"}
		ours := &oauth2.DefaultJWTStrategy{Signer: e.m.FositeSigner(keys.ES256), Config: cfg}
		bare := &oauth2.DefaultJWTStrategy{Signer: &jwt.DefaultSigner{GetPrivateKey: e.m.FositeKey(keys.ES256)}, Config: cfg}

		// A session that sets its own kid cannot make the header lie.
		oldTok, _, err := ours.GenerateAccessToken(ctx, jwtSessionRequest(map[string]any{"kid": "attacker", "typ": "at+jwt"}))
		if err != nil {
			t.Fatal(err)
		}
		oldKID := kidOf(t, e.m, keys.ES256)
		h := header(t, oldTok)
		if h["kid"] != oldKID || h["typ"] != "at+jwt" {
			t.Errorf("header %v, want kid %s and the session's typ", h, oldKID)
		}
		if err := ours.ValidateAccessToken(ctx, nil, oldTok); err != nil {
			t.Fatalf("fresh token: %v", err)
		}
		if _, err := e.m.Rotate(ctx, keys.ES256, time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := ours.ValidateAccessToken(ctx, nil, oldTok); err != nil {
			t.Errorf("token signed before rotation rejected by FositeSigner: %v", err)
		}
		if err := bare.ValidateAccessToken(ctx, nil, oldTok); err == nil {
			t.Error("bare DefaultSigner accepted a token of the retired key; FositeSigner would not be needed")
		}
		newTok, _, err := ours.GenerateAccessToken(ctx, jwtSessionRequest(nil))
		if err != nil {
			t.Fatal(err)
		}
		if h := header(t, newTok); h["kid"] != kidOf(t, e.m, keys.ES256) || h["kid"] == oldKID {
			t.Errorf("token after rotation has kid %v", h["kid"])
		}
		if err := ours.ValidateAccessToken(ctx, nil, newTok); err != nil {
			t.Errorf("token after rotation: %v", err)
		}

		// Claims are still checked: an expired token is reported as expired.
		expired := jwtSessionRequest(nil)
		expired.Session.(*oauth2.JWTSession).ExpiresAt[fosite.AccessToken] = time.Now().Add(-time.Minute)
		expTok, _, err := ours.GenerateAccessToken(ctx, expired)
		if err != nil {
			t.Fatal(err)
		}
		if err := ours.ValidateAccessToken(ctx, nil, expTok); !errors.Is(err, fosite.ErrTokenExpired) {
			t.Errorf("expired token: %v, want ErrTokenExpired", err)
		}
	})
}

func header(t *testing.T, tok string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// forge builds tokens an attacker can make from what we publish.
func forge(t *testing.T, m *keys.Manager, claims map[string]any) map[string]string {
	t.Helper()
	ctx := context.Background()
	kid, priv, err := m.SigningKey(ctx, keys.ES256)
	if err != nil {
		t.Fatal(err)
	}
	rsKID, _, err := m.SigningKey(ctx, keys.RS256)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	seg := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	out := map[string]string{
		"alg none":   seg(map[string]any{"alg": "none", "kid": kid, "typ": "JWT"}) + "." + base64.RawURLEncoding.EncodeToString(payload) + ".",
		"alg absent": seg(map[string]any{"kid": kid}) + "." + base64.RawURLEncoding.EncodeToString(payload) + ".c2ln",
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(priv.Public())
	set, _ := m.JWKSJSON(ctx)
	jwk, _ := json.Marshal(jose.JSONWebKey{Key: priv.Public(), KeyID: kid, Algorithm: "ES256", Use: "sig"})
	for name, secret := range map[string][]byte{"HS256 with the PKIX public key": pubDER, "HS256 with the JWK": jwk, "HS256 with the JWKS": set} {
		out[name] = sign(t, jose.HS256, secret, kid, payload)
	}
	// A real signature under the wrong algorithm's kid, an unknown kid, no kid.
	out["ES256 signature with the RS256 key's kid"] = sign(t, jose.ES256, priv, rsKID, payload)
	out["unknown kid"] = sign(t, jose.ES256, priv, "nope", payload)
	out["no kid"] = sign(t, jose.ES256, priv, "", payload)
	good := sign(t, jose.ES256, priv, kid, payload)
	parts := strings.Split(good, ".")
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"mallory"}`))
	out["payload changed"] = strings.Join(parts, ".")
	return out
}

func sign(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, payload []byte) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVerifiersRejectForgedTokens(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		if _, err := e.m.EnsureKeys(ctx); err != nil {
			t.Fatal(err)
		}
		claims := map[string]any{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}
		signer := e.m.FositeSigner(keys.ES256)
		good, _ := signJWT(t, e.m, keys.ES256, claims)
		if _, err := e.m.Verify(ctx, good); err != nil {
			t.Fatalf("Verify(genuine) = %v", err)
		}
		if tok, err := signer.Decode(ctx, good); err != nil || !tok.Valid() {
			t.Fatalf("FositeSigner.Decode(genuine) = %v", err)
		}
		for name, tok := range forge(t, e.m, claims) {
			t.Run(name, func(t *testing.T) {
				if _, err := e.m.Verify(ctx, tok); !errors.Is(err, keys.ErrInvalidToken) {
					t.Errorf("Verify: %v, want ErrInvalidToken", err)
				}
				if _, err := signer.Decode(ctx, tok); err == nil {
					t.Error("FositeSigner.Decode accepted it")
				}
				if _, err := signer.Validate(ctx, tok); err == nil {
					t.Error("FositeSigner.Validate accepted it")
				}
			})
		}
	})
}
