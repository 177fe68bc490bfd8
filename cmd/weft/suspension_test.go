package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// suspensionUsers are the people whose status the paths below change, one each, so that
// every path starts from a user with a live session and tokens.
const suspensionUsers = `
users:
  - {username: via-admin, email: via-admin@example.com, password: via-admin-password-1}
  - {username: via-cli, email: via-cli@example.com, password: via-cli-password-1}
  - {username: via-cli-gone, email: via-cli-gone@example.com, password: via-cli-gone-password-1}
  - {username: via-apply, email: via-apply@example.com, password: via-apply-password-1}
  - {username: via-apply-gone, email: via-apply-gone@example.com, password: via-apply-gone-password-1}
clients:
  - id: poll-receiver
    name: Second SSF receiver
    type: confidential
    secret: poll-receiver-secret
    grant_types: [client_credentials]
    scopes: [weft:ssf]
`

// TestSuspension_RevokesOnEveryPath: a status change to suspended or deprovisioned,
// whichever path makes it (the admin API, the CLI, weft apply), ends the user's login
// sessions, revokes the refresh token (it mints nothing more), makes the access token
// inactive at once, and tells SSF receivers session-revoked and account-disabled.
// Regression for two defects: apply changed the status without revoking anything, and
// the CLI's revocations sent receivers no session-revoked.
func TestSuspension_RevokesOnEveryPath(t *testing.T) {
	e := &ssfEnv{oidcEnv: newOIDCEnvWith(t, sqltest.SQLite, suspensionUsers)}
	ctx := context.Background()
	rcv := e.token("poll-receiver", "poll-receiver-secret", "weft:ssf")
	stream := e.createStream(rcv, `{"delivery":{"method":"`+methodPoll+`"},"events_requested":["`+evSessionRevoked+`","`+evAccountDisabled+`"]}`)
	admin := e.token("demo-admin", "demo-admin-secret", "weft:admin")

	type grant struct {
		sub string
		tok *oauth2.Token
	}
	signIn := func(username string) grant {
		t.Helper()
		verifier := oauth2.GenerateVerifier()
		cb := e.login(e.browser(), e.web.AuthCodeURL(randomString(), oauth2.S256ChallengeOption(verifier), oidc.Nonce(randomString())),
			username, username+"-password-1")
		tok, err := e.web.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil || tok.RefreshToken == "" {
			t.Fatalf("%s: code exchange: %v", username, err)
		}
		idt, err := e.provider.Verifier(&oidc.Config{ClientID: "demo-web"}).Verify(ctx, tok.Extra("id_token").(string))
		if err != nil {
			t.Fatal(err)
		}
		if !e.active(tok.AccessToken) {
			t.Fatalf("%s: fresh access token inactive", username)
		}
		return grant{sub: idt.Subject, tok: tok}
	}
	setViaAdmin := func(username, status string) {
		if code, _ := e.call(http.MethodPatch, "/api/v1/users/"+e.cli.userID(t, username), admin, `{"status":"`+status+`"}`, nil); code != 200 {
			t.Fatalf("admin PATCH status=%s: %d", status, code)
		}
	}
	setViaApply := func(username, status string) {
		e.cli.ok(fmt.Sprintf("users:\n  - {username: %s, email: %s@example.com, status: %s}\n", username, username, status), "apply", "-f", "-")
	}
	paths := []struct {
		user, status string
		change       func(username, status string)
	}{
		{"via-admin", "suspended", setViaAdmin},
		{"via-cli", "suspended", func(u, _ string) { e.cli.ok("", "user", "suspend", u) }},
		{"via-cli-gone", "deprovisioned", func(u, _ string) { e.cli.ok("", "user", "deprovision", u) }},
		{"via-apply", "suspended", setViaApply},
		{"via-apply-gone", "deprovisioned", setViaApply},
	}
	for _, p := range paths {
		t.Run(p.user, func(t *testing.T) {
			g := signIn(p.user)
			e.pollEvents(rcv, stream.StreamID) // start from an empty stream
			p.change(p.user, p.status)

			// The server learns of changes made by another process (the CLI) from the
			// durable log within 100 ms; allow a little more before looking.
			deadline := time.Now().Add(2 * time.Second)
			for e.active(g.tok.AccessToken) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if e.active(g.tok.AccessToken) {
				t.Fatalf("%s: the access token is still active after the user was %s", p.user, p.status)
			}
			stale := &oauth2.Token{RefreshToken: g.tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}
			if fresh, err := e.web.TokenSource(ctx, stale).Token(); err == nil {
				t.Fatalf("%s: the refresh token still works after the user was %s (new access token active=%v)",
					p.user, p.status, e.active(fresh.AccessToken))
			}
			var live struct{ Items []json.RawMessage }
			if code, _ := e.call(http.MethodGet, "/api/v1/sessions?active=true&user="+g.sub, admin, "", &live); code != 200 || len(live.Items) != 0 {
				t.Fatalf("%s: %d login sessions still active (%d)", p.user, len(live.Items), code)
			}
			ev := e.pollEvents(rcv, stream.StreamID)
			if len(ev[evSessionRevoked]) != 1 || len(ev[evAccountDisabled]) != 1 {
				t.Fatalf("%s: receiver got %d session-revoked and %d account-disabled, want 1 and 1", p.user,
					len(ev[evSessionRevoked]), len(ev[evAccountDisabled]))
			}
			for _, claims := range append(ev[evSessionRevoked], ev[evAccountDisabled]...) {
				if sub := subjectOf(claims); sub != g.sub {
					t.Fatalf("%s: event about %q, want %q", p.user, sub, g.sub)
				}
			}
		})
	}
}

// subjectOf returns the user id an SSF event names (iss_sub, or the user part of a
// complex subject).
func subjectOf(claims map[string]any) string {
	sub, _ := claims["sub_id"].(map[string]any)
	if u, ok := sub["user"].(map[string]any); ok {
		sub = u
	}
	s, _ := sub["sub"].(string)
	return s
}

// userID looks a user up with the CLI.
func (e *cliEnv) userID(t *testing.T, username string) string {
	t.Helper()
	var v struct{ ID string }
	if err := json.Unmarshal([]byte(e.ok("", "user", "show", username, "-o", "json")), &v); err != nil || v.ID == "" {
		t.Fatalf("user show %s: %v", username, err)
	}
	return v.ID
}
