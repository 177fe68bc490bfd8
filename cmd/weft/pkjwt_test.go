package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// TestOIDC_PrivateKeyJWT: a client registered with its public key authenticates with a
// signed assertion (RFC 7523); replays, expired or mis-addressed assertions, alg none
// and an HS256 MAC keyed with the public key are all refused with 401 invalid_client.
func TestOIDC_PrivateKeyJWT(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub := jose.JSONWebKey{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}
	pubJSON, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}})
	o := newOIDCEnvWith(t, sqltest.SQLite, `
clients:
  - id: pkjwt-client
    name: Service with a key instead of a secret
    type: confidential
    token_endpoint_auth_method: private_key_jwt
    jwks: `+string(pubJSON)+`
    grant_types: [client_credentials]
    scopes: [api.read]
`)
	tokenURL := o.provider.Endpoint().TokenURL
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}}, nil)
	assertion := func(mod func(*jwt.Claims)) string {
		c := jwt.Claims{Issuer: "pkjwt-client", Subject: "pkjwt-client", Audience: jwt.Audience{tokenURL},
			ID: randomString(), IssuedAt: jwt.NewNumericDate(time.Now()), Expiry: jwt.NewNumericDate(time.Now().Add(time.Minute))}
		if mod != nil {
			mod(&c)
		}
		s, err := jwt.Signed(signer).Claims(c).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	token := func(a string) (int, map[string]any) {
		resp, err := http.PostForm(tokenURL, url.Values{"grant_type": {"client_credentials"}, "scope": {"api.read"},
			"client_id": {"pkjwt-client"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion": {a}})
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		_ = json.Unmarshal([]byte(readAll(t, resp)), &body)
		return resp.StatusCode, body
	}
	// A valid assertion sent with another client authentication is refused: one method
	// per request (issue 9, L6), whichever the server would have picked.
	for name, extra := range map[string]func(*http.Request){
		"with HTTP Basic":    func(r *http.Request) { r.SetBasicAuth("pkjwt-client", "anything") },
		"with client_secret": nil,
	} {
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"api.read"}, "client_id": {"pkjwt-client"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion(nil)}}
		if extra == nil {
			form.Set("client_secret", "anything")
		}
		req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if extra != nil {
			extra(req)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if b := readAll(t, resp); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(b, "invalid_client") {
			t.Fatalf("assertion %s: %d %s, want 401 invalid_client", name, resp.StatusCode, b)
		}
	}

	good := assertion(nil)
	code, body := token(good)
	if code != 200 || body["access_token"] == nil {
		t.Fatalf("valid assertion: %d %v", code, body)
	}
	if !o.active(body["access_token"].(string)) {
		t.Fatal("token from a private_key_jwt client is not active")
	}

	// The issuer identifier is the audience rfc7523bis asks clients to use; the token
	// endpoint stays accepted as a single value (issue 9, L6).
	issuer := strings.TrimSuffix(tokenURL, "/oauth2/token")
	if code, body := token(assertion(func(c *jwt.Claims) { c.Audience = jwt.Audience{issuer} })); code != 200 || body["access_token"] == nil {
		t.Fatalf("assertion addressed to the issuer: %d %v", code, body)
	}

	// Forgeries of the header: alg none, and HS256 keyed with the client's public key.
	claims := strings.Split(assertion(nil), ".")[1]
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + claims + "."
	pubDER, _ := json.Marshal(pub)
	hsHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT","kid":"k1"}`))
	mac := hmac.New(sha256.New, pubDER)
	mac.Write([]byte(hsHeader + "." + claims))
	hs256 := hsHeader + "." + claims + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))

	// A replayed assertion gets fosite's dedicated error.
	if code, body := token(good); code != 400 || body["error"] != "jti_known" || body["access_token"] != nil {
		t.Fatalf("replayed assertion: %d %v", code, body)
	}
	cases := map[string]string{
		"expired":      assertion(func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(time.Now().Add(-time.Minute)) }),
		"wrong aud":    assertion(func(c *jwt.Claims) { c.Audience = jwt.Audience{"https://elsewhere.example.com/token"} }),
		"wrong issuer": assertion(func(c *jwt.Claims) { c.Issuer, c.Subject = "demo-m2m", "demo-m2m" }),
		// Audience injection: an assertion made for several servers is refused even
		// when this one's token endpoint is among them.
		"aud token URL and another": assertion(func(c *jwt.Claims) { c.Audience = jwt.Audience{tokenURL, "https://evil.example"} }),
		"aud issuer and another":    assertion(func(c *jwt.Claims) { c.Audience = jwt.Audience{issuer, "https://evil.example"} }),
		"valid for ten years": assertion(func(c *jwt.Claims) {
			c.Expiry = jwt.NewNumericDate(time.Now().AddDate(10, 0, 0))
		}),
		"alg none":      none,
		"HS256 pub key": hs256,
	}
	for name, a := range cases {
		t.Run(name, func(t *testing.T) {
			code, body := token(a)
			if code != 401 || body["error"] != "invalid_client" || body["access_token"] != nil {
				t.Fatalf("%d %v", code, body)
			}
		})
	}
	// And the client has no secret to fall back to.
	req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("pkjwt-client", "")
	resp, err := http.DefaultClient.Do(req.WithContext(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 401 {
		t.Fatalf("empty secret: %d", resp.StatusCode)
	}
	resp.Body.Close()

	// Disabled (here with the CLI, another process: the server replays the revocation
	// from the durable log), the client is refused even with a valid assertion (M7).
	o.cli.ok("", "client", "disable", "pkjwt-client")
	eventually(t, "the disabled private_key_jwt client to be refused", func() bool {
		code, _ := token(assertion(nil))
		return code == 401
	})
	if code, body := token(assertion(nil)); code != 401 || body["error"] != "invalid_client" || body["access_token"] != nil {
		t.Fatalf("a valid assertion of the disabled client: %d %v", code, body)
	}
}
