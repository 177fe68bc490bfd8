package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// TestBackchannelLogout: when a SOAR tool revokes a session, the relying party that
// registered a back-channel logout URI receives a signed logout token, even though it
// was down for the first attempts, and the revocation's receipt says so.
func TestBackchannelLogout(t *testing.T) {
	var (
		mu       sync.Mutex
		calls    int
		received []string
	)
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls <= 2 { // down for a while
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		received = append(received, r.PostFormValue("logout_token"))
	}))
	defer rp.Close()
	o := newOIDCEnvWith(t, sqltest.SQLite, `
clients:
  - id: bc-rp
    name: Relying party with back-channel logout
    type: confidential
    secret: bc-rp-secret-123
    redirect_uris: [http://127.0.0.1:9555/callback]
    grant_types: [authorization_code]
    scopes: [openid]
    backchannel_logout_uri: `+rp.URL+`/backchannel
`)
	ctx := context.Background()
	web := oauth2.Config{ClientID: "bc-rp", ClientSecret: "bc-rp-secret-123", RedirectURL: "http://127.0.0.1:9555/callback",
		Endpoint: oauth2.Endpoint{AuthURL: o.provider.Endpoint().AuthURL, TokenURL: o.provider.Endpoint().TokenURL, AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:   []string{"openid"}}
	o.web = web
	v := oauth2.GenerateVerifier()
	cb := o.login(o.browser(), web.AuthCodeURL(randomString(), oauth2.S256ChallengeOption(v)), "alice", "alice-demo-password-1")
	tok, err := web.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	idt, err := o.provider.Verifier(&oidc.Config{ClientID: "bc-rp"}).Verify(ctx, tok.Extra("id_token").(string))
	if err != nil {
		t.Fatal(err)
	}
	var idc struct{ Sid string }
	_ = idt.Claims(&idc)

	soar, err := (&clientcredentials.Config{ClientID: "demo-soar", ClientSecret: "demo-soar-secret", TokenURL: web.Endpoint.TokenURL,
		Scopes: []string{"weft:revoke"}}).Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, o.issuer+"/api/v1/revocations",
		strings.NewReader(`{"selector":{"type":"session","value":"`+idc.Sid+`"},"reason":"session hijack suspected"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+soar.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var rec struct{ ID string }
	_ = json.Unmarshal([]byte(readAll(t, resp)), &rec)
	if resp.StatusCode != 201 || rec.ID == "" {
		t.Fatalf("revoke session: %d", resp.StatusCode)
	}

	// The receipt shows the delivery being retried, then done.
	type receipt struct {
		Deliveries []struct {
			Target      string
			Attempts    int
			DeliveredAt *time.Time `json:"delivered_at"`
		}
	}
	var rcpt receipt
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, o.issuer+"/api/v1/revocations/"+rec.ID, nil)
		req.Header.Set("Authorization", "Bearer "+soar.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		rcpt = receipt{}
		_ = json.Unmarshal([]byte(readAll(t, resp)), &rcpt)
		if len(rcpt.Deliveries) == 1 && rcpt.Deliveries[0].DeliveredAt != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not delivered within 20 s: %+v", rcpt)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if d := rcpt.Deliveries[0]; d.Target != rp.URL+"/backchannel" || d.Attempts != 2 {
		t.Fatalf("delivery = %+v, want two failed attempts before success", d)
	}
	// The audit log has the delivery's final outcome once, tied to the revocation, not
	// a row per retry.
	var audit struct{ Entries []identity.AuditEntry }
	if err := json.Unmarshal([]byte(o.cli.ok("", "audit", "list", "-o", "json", "--limit", "1000")), &audit); err != nil {
		t.Fatal(err)
	}
	var outcomes []string
	for _, e := range audit.Entries {
		if e.Kind == "delivery.backchannel_logout" && e.Detail["revocation"] == rec.ID {
			outcomes = append(outcomes, fmt.Sprint(e.Detail["outcome"], "/", e.Detail["attempts"]))
		}
	}
	if strings.Join(outcomes, ",") != "delivered/3" {
		t.Fatalf("audited delivery outcomes = %v, want delivered/3 (one row, after three attempts)", outcomes)
	}

	mu.Lock()
	got := append([]string(nil), received...)
	mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("relying party received %d logout tokens, want 1", len(got))
	}
	// The relying party verifies it with JWKS through go-jose v4.
	parsed, err := jwt.ParseSigned(got[0], []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	if typ, _ := parsed.Headers[0].ExtraHeaders["typ"].(string); typ != "logout+jwt" {
		t.Fatalf("typ = %q", typ)
	}
	jwksResp, err := http.Get(o.issuer + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(readAll(t, jwksResp)), &set); err != nil {
		t.Fatal(err)
	}
	keys := set.Key(parsed.Headers[0].KeyID)
	if len(keys) == 0 {
		t.Fatal("the logout token's kid is not in JWKS")
	}
	var claims map[string]any
	if err := parsed.Claims(keys[0].Key, &claims); err != nil {
		t.Fatalf("logout token signature: %v", err)
	}
	events, _ := claims["events"].(map[string]any)
	_, hasEvent := events["http://schemas.openid.net/event/backchannel-logout"]
	if claims["iss"] != o.issuer || claims["aud"] != "bc-rp" || claims["sid"] != idc.Sid || claims["sub"] != idt.Subject ||
		claims["jti"] == nil || claims["iat"] == nil || !hasEvent || claims["nonce"] != nil {
		t.Fatalf("logout token claims = %v", claims)
	}
	if o.active(tok.AccessToken) {
		t.Fatal("the session's token is still active")
	}
}

// TestBackchannelLogout_OnRPInitiatedLogout: when a user signs out at one relying party,
// every client of the session that registered a back-channel URI is told.
func TestBackchannelLogout_OnRPInitiatedLogout(t *testing.T) {
	got := make(chan string, 4)
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.PostFormValue("logout_token")
	}))
	defer rp.Close()
	o := newOIDCEnvWith(t, sqltest.SQLite, `
clients:
  - id: bc-rp
    name: Relying party with back-channel logout
    type: confidential
    secret: bc-rp-secret-123
    redirect_uris: [http://127.0.0.1:9555/callback]
    grant_types: [authorization_code]
    scopes: [openid]
    backchannel_logout_uri: `+rp.URL+`/backchannel
`)
	ctx := context.Background()
	b := o.browser()
	// The user signs in to bc-rp, then to demo-web in the same browser session.
	bc := oauth2.Config{ClientID: "bc-rp", ClientSecret: "bc-rp-secret-123", RedirectURL: "http://127.0.0.1:9555/callback",
		Endpoint: oauth2.Endpoint{AuthURL: o.provider.Endpoint().AuthURL, TokenURL: o.provider.Endpoint().TokenURL, AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:   []string{"openid"}}
	web := o.web
	o.web = bc
	v := oauth2.GenerateVerifier()
	cb := o.login(b, bc.AuthCodeURL(randomString(), oauth2.S256ChallengeOption(v)), "alice", "alice-demo-password-1")
	if _, err := bc.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(v)); err != nil {
		t.Fatal(err)
	}
	o.web = web
	v = oauth2.GenerateVerifier()
	cb = o.login(b, web.AuthCodeURL(randomString(), oauth2.S256ChallengeOption(v)), "alice", "alice-demo-password-1")
	tok, err := web.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	// Signing out at demo-web tells bc-rp.
	resp, err := b.Get(o.issuer + "/oauth2/logout?id_token_hint=" + tok.Extra("id_token").(string))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case lt := <-got:
		parsed, err := jwt.ParseSigned(lt, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatal(err)
		}
		var c map[string]any
		if err := parsed.UnsafeClaimsWithoutVerification(&c); err != nil || c["aud"] != "bc-rp" || c["sid"] == nil {
			t.Fatalf("logout token claims = %v, %v", c, err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("bc-rp was not told of the logout")
	}
}
