package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/weft-fabric/weft/identity/sqlstore"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// TestBackchannelLogout_TargetWithoutQuery: a relying party whose back-channel logout
// URI carries a secret in its query gets its logout token at the full URI, while the
// receipt and the audit log show the URI without the query (issue 9, I9).
func TestBackchannelLogout_TargetWithoutQuery(t *testing.T) {
	var (
		mu    sync.Mutex
		got   []string
		token string
	)
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r.URL.RequestURI())
		token = r.PostFormValue("logout_token")
	}))
	defer rp.Close()
	o := newOIDCEnvWith(t, sqltest.SQLite, `
clients:
  - id: bc-rp
    name: Relying party with a token in its back-channel URI
    type: confidential
    secret: bc-rp-secret-123
    redirect_uris: [http://127.0.0.1:9555/callback]
    grant_types: [authorization_code]
    scopes: [openid]
    backchannel_logout_uri: `+rp.URL+`/backchannel?rp_token=s3cret-in-query
`)
	ctx := context.Background()
	web := oauth2.Config{ClientID: "bc-rp", ClientSecret: "bc-rp-secret-123", RedirectURL: "http://127.0.0.1:9555/callback",
		Endpoint: oauth2.Endpoint{AuthURL: o.provider.Endpoint().AuthURL, TokenURL: o.provider.Endpoint().TokenURL, AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:   []string{"openid"}}
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
	call := func(method, path, body string) string {
		t.Helper()
		req, _ := http.NewRequest(method, o.issuer+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Authorization", "Bearer "+soar.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return readAll(t, resp)
	}
	var rec struct{ ID string }
	_ = json.Unmarshal([]byte(call(http.MethodPost, "/api/v1/revocations", `{"selector":{"type":"session","value":"`+idc.Sid+`"},"reason":"x"}`)), &rec)
	if rec.ID == "" {
		t.Fatal("no revocation")
	}
	var receipt string
	deadline := time.Now().Add(20 * time.Second)
	for {
		receipt = call(http.MethodGet, "/api/v1/revocations/"+rec.ID, "")
		if strings.Contains(receipt, `"delivered_at":"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not delivered: %s", receipt)
		}
		time.Sleep(100 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0] != "/backchannel?rp_token=s3cret-in-query" || token == "" {
		t.Fatalf("relying party got %v (token %t)", got, token != "")
	}
	if strings.Contains(receipt, "s3cret") || !strings.Contains(receipt, rp.URL+"/backchannel?…") {
		t.Fatalf("receipt shows the query: %s", receipt)
	}
	if audit := o.cli.ok("", "audit", "list", "-o", "json", "--limit", "1000"); strings.Contains(audit, "s3cret") {
		t.Fatal("the audit log holds the query")
	}
}

// TestSSF_LegacyAuthorizationHeaderSealedAtStart: a push stream's header stored in
// clear (as before migration 00018) is encrypted by weft serve at start-up, and the
// receiver still gets it (issue 9, L5).
func TestSSF_LegacyAuthorizationHeaderSealedAtStart(t *testing.T) {
	e := newSSFEnv(t, sqltest.SQLite)
	ctx := context.Background()
	rcv := newPushReceiver(t, 0, "Bearer legacy-secret")
	tok := e.token("demo-receiver", "demo-receiver-secret", "weft:ssf")
	s := e.createStream(tok, `{"delivery":{"method":"`+methodPush+`","endpoint_url":"`+rcv.URL+`"},"events_requested":["`+evVerification+`"]}`)
	if err := e.srv.stop(); err != nil {
		t.Fatal(err)
	}
	db, err := sqlstore.Open(ctx, sqlstore.Options{SQLitePath: filepath.Join(dataDir(e.cli), "weft.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Conn(ctx).Exec("UPDATE ssf_streams SET authorization_header = 'Bearer legacy-secret', authorization_sealed = NULL WHERE id = ?", s.StreamID).Error; err != nil {
		t.Fatal(err)
	}
	e.srv = startServerAt(t, e.cli.environ, strings.TrimPrefix(e.issuer, "http://"))
	var inClear string
	var sealed []byte
	if err := db.SQL().QueryRowContext(ctx, "SELECT authorization_header, authorization_sealed FROM ssf_streams WHERE id = ?", s.StreamID).
		Scan(&inClear, &sealed); err != nil {
		t.Fatal(err)
	}
	if inClear != "" || len(sealed) == 0 || strings.Contains(string(sealed), "legacy-secret") {
		t.Fatalf("after start: clear %q, sealed %q", inClear, sealed)
	}
	if code, _ := e.call(http.MethodPost, "/ssf/verify", tok, `{"stream_id":"`+s.StreamID+`","state":"after-sealing"}`, nil); code != 204 {
		t.Fatalf("verify: %d", code)
	}
	waitFor(t, "the pushed SET with the sealed header", func() bool { return len(rcv.received()) == 1 })
}
