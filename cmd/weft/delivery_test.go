package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/weft-fabric/weft/access/outbox/outboxtest"
	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// arrivals is a receiver that notes when each request arrives and answers status.
type arrivals struct {
	*httptest.Server
	at chan arrival
}

type arrival struct {
	when time.Time
	body string
}

func newArrivals(t *testing.T, status int) *arrivals {
	a := &arrivals{at: make(chan arrival, 100)}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		_ = r.ParseForm()
		body := r.PostForm.Get("logout_token")
		if body == "" {
			b := make([]byte, 16<<10)
			n, _ := r.Body.Read(b)
			body = string(b[:n])
		}
		a.at <- arrival{now, body}
		w.WriteHeader(status)
	}))
	t.Cleanup(a.Close)
	return a
}

// next waits for the next arrival; false after within.
func (a *arrivals) next(within time.Duration) (arrival, bool) {
	select {
	case x := <-a.at:
		return x, true
	case <-time.After(within):
		return arrival{}, false
	}
}

// bcRP is a relying party with a back-channel logout URI, and an SSF receiver besides
// poll-receiver.
func bcRP(uri string) string {
	return pollReceiver + `
  - id: bc-rp
    name: Relying party with back-channel logout
    type: confidential
    secret: bc-rp-secret-123
    redirect_uris: [http://127.0.0.1:9555/callback]
    grant_types: [authorization_code]
    scopes: [openid]
    backchannel_logout_uri: ` + uri + `
`
}

// signInAt signs alice in to bc-rp and returns her session id.
func (e *ssfEnv) signInAt(client string) string {
	e.t.Helper()
	ctx := context.Background()
	cfg := oauth2.Config{ClientID: client, ClientSecret: client + "-secret-123", RedirectURL: "http://127.0.0.1:9555/callback",
		Endpoint: oauth2.Endpoint{AuthURL: e.provider.Endpoint().AuthURL, TokenURL: e.provider.Endpoint().TokenURL, AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:   []string{"openid"}}
	web := e.web
	e.web = cfg
	defer func() { e.web = web }()
	v := oauth2.GenerateVerifier()
	cb := e.login(e.browser(), cfg.AuthCodeURL(randomString(), oauth2.S256ChallengeOption(v)), "alice", "alice-demo-password-1")
	tok, err := cfg.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		e.t.Fatal(err)
	}
	idt, err := e.provider.Verifier(&oidc.Config{ClientID: client}).Verify(ctx, tok.Extra("id_token").(string))
	if err != nil {
		e.t.Fatal(err)
	}
	var c struct{ Sid string }
	_ = idt.Claims(&c)
	return c.Sid
}

// TestDelivery_HangingReceiverDoesNotStall (review M1): an SSF receiver whose push
// endpoint accepts and never answers, with verification SETs queued for it, does not
// hold up the back-channel logout to a relying party or the SET to another receiver
// when a session is revoked: both arrive within a second of the revocation's answer,
// with the outbox's polling an hour apart (the commit wakes the worker).
func TestDelivery_HangingReceiverDoesNotStall(t *testing.T) {
	bcl := newArrivals(t, http.StatusOK)
	good := newArrivals(t, http.StatusAccepted)
	hang := outboxtest.HangingListener(t)
	e := &ssfEnv{oidcEnv: newOIDCEnvWith(t, sqltest.SQLite, bcRP(bcl.URL+"/bcl"), "WEFT_OUTBOX_POLL_INTERVAL=1h")}

	evil := e.token("poll-receiver", "poll-receiver-secret", "weft:ssf")
	for i := range 2 {
		s := e.createStream(evil, fmt.Sprintf(`{"delivery":{"method":"%s","endpoint_url":"%s/hang/%d"},"default_subjects":"ALL","events_requested":["%s"]}`,
			methodPush, hang, i, evSessionRevoked))
		for range 3 {
			if code, _ := e.call(http.MethodPost, "/ssf/verify", evil, `{"stream_id":"`+s.StreamID+`"}`, nil); code != http.StatusNoContent {
				t.Fatalf("verify: %d", code)
			}
		}
	}
	rcv := e.token("demo-receiver", "demo-receiver-secret", "weft:ssf")
	e.createStream(rcv, `{"delivery":{"method":"`+methodPush+`","endpoint_url":"`+good.URL+`/events"},"default_subjects":"ALL","events_requested":["`+evSessionRevoked+`"]}`)
	sid := e.signInAt("bc-rp")
	time.Sleep(300 * time.Millisecond) // the hanging deliveries are under way

	soar := e.token("demo-soar", "demo-soar-secret", "weft:revoke")
	e.revoke(soar, `{"selector":{"type":"session","value":"`+sid+`"},"reason":"stall test"}`)
	answered := time.Now()
	for name, r := range map[string]*arrivals{"back-channel logout": bcl, "SSF push": good} {
		a, ok := r.next(5 * time.Second)
		if !ok {
			t.Fatalf("%s: nothing arrived within 5 s while another receiver hangs", name)
		}
		if d := a.when.Sub(answered); d > time.Second {
			t.Errorf("%s arrived %s after the revocation's answer, behind the hanging receiver", name, d)
		}
		if !strings.Contains(decodeJWTPayload(t, a.body), sid) {
			t.Errorf("%s: %s does not name session %s", name, decodeJWTPayload(t, a.body), sid)
		}
	}
}

// decodeJWTPayload returns the (unverified) payload of a compact JWS, for matching.
func decodeJWTPayload(t *testing.T, jws string) string {
	t.Helper()
	parts := strings.Split(jws, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", jws)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSSF_GiveUpDisablesStream (review M1): a push receiver that keeps failing is given
// up after the attempt limit: the stream is disabled with the reason (SSF 1.0 section
// 8.1.2), and the audit log has one row, the final outcome, not one per retry.
func TestSSF_GiveUpDisablesStream(t *testing.T) {
	down := newArrivals(t, http.StatusServiceUnavailable)
	e := &ssfEnv{oidcEnv: newOIDCEnvWith(t, sqltest.SQLite, pollReceiver, "WEFT_OUTBOX_MAX_ATTEMPTS=3")}
	rcv := e.token("demo-receiver", "demo-receiver-secret", "weft:ssf")
	s := e.createStream(rcv, `{"delivery":{"method":"`+methodPush+`","endpoint_url":"`+down.URL+`/events"},"events_requested":["`+evSessionRevoked+`"]}`)
	if code, _ := e.call(http.MethodPost, "/ssf/verify", rcv, `{"stream_id":"`+s.StreamID+`","state":"give-up"}`, nil); code != http.StatusNoContent {
		t.Fatalf("verify: %d", code)
	}

	var status struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
	}
	waitFor(t, "the stream disabled", func() bool {
		e.call(http.MethodGet, "/ssf/status?stream_id="+s.StreamID, rcv, "", &status)
		return status.Status == "disabled"
	})
	if !strings.Contains(status.Reason, "gave up after 3 attempts") || !strings.Contains(status.Reason, "503") {
		t.Errorf("status reason = %q, want the give-up and the last error", status.Reason)
	}
	if n := len(down.at); n != 3 {
		t.Errorf("the receiver was called %d times, want 3 (the limit)", n)
	}
	var audit struct{ Entries []identity.AuditEntry }
	if err := json.Unmarshal([]byte(e.cli.ok("", "audit", "list", "-o", "json", "--limit", "1000")), &audit); err != nil {
		t.Fatal(err)
	}
	var outcomes []string
	for _, a := range audit.Entries {
		if a.Kind == "delivery.ssf_push" && a.Detail["stream"] == s.StreamID {
			outcomes = append(outcomes, fmt.Sprint(a.Detail["outcome"]))
		}
	}
	if strings.Join(outcomes, ",") != "given_up" {
		t.Errorf("audited outcomes = %v, want one given_up", outcomes)
	}
	// Operators see it in the metrics.
	if code, body := get(t, e.issuer+"/metrics"); code != 200 || !strings.Contains(body, "weft_outbox_given_up_total 1\n") ||
		!strings.Contains(body, "weft_outbox_retries_total 2\n") {
		t.Errorf("metrics (%d) lack the outbox's given-up message and its retries", code)
	}
}

// TestSSF_RPInitiatedLogout (issue 9 item 3): a user signing out at a relying party
// ends the session like any other ended session: SSF receivers get CAEP
// session-revoked for it, initiated by the user.
func TestSSF_RPInitiatedLogout(t *testing.T) {
	push := newArrivals(t, http.StatusAccepted)
	e := newSSFEnv(t, sqltest.SQLite)
	rcv := e.token("demo-receiver", "demo-receiver-secret", "weft:ssf")
	e.createStream(rcv, `{"delivery":{"method":"`+methodPush+`","endpoint_url":"`+push.URL+`/events"},"default_subjects":"ALL","events_requested":["`+evSessionRevoked+`"]}`)
	ctx := context.Background()
	b := e.browser()
	v := oauth2.GenerateVerifier()
	cb := e.login(b, e.web.AuthCodeURL(randomString(), oauth2.S256ChallengeOption(v)), "alice", "alice-demo-password-1")
	tok, err := e.web.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	_, intro := e.introspect(tok.AccessToken, "demo-gateway", "demo-gateway-secret")
	sid := intro["sid"].(string)
	resp, err := b.Get(e.issuer + "/oauth2/logout?id_token_hint=" + tok.Extra("id_token").(string))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	a, ok := push.next(15 * time.Second)
	if !ok {
		t.Fatal("no security event after the user signed out")
	}
	claims := e.verifySET(a.body)
	typ, body := event(t, claims)
	subID, _ := claims["sub_id"].(map[string]any)
	session, _ := subID["session"].(map[string]any)
	if typ != evSessionRevoked || session["id"] != sid || body["initiating_entity"] != "user" || claims["aud"] != "demo-receiver" {
		t.Fatalf("SET after logout = %v", claims)
	}
	if e.active(tok.AccessToken) {
		t.Fatal("the session's token is still active after logout")
	}
}
