package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/weft-fabric/weft/identity/sqlstore"
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
  - {username: dry-run, email: dry-run@example.com, password: dry-run-password-1}
` + pollReceiver

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
	stream := e.createStream(rcv, `{"delivery":{"method":"`+methodPoll+`"},"default_subjects":"ALL","events_requested":["`+evSessionRevoked+`","`+evAccountDisabled+`"]}`)
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
	// A dry run shows the change and makes none: nothing revoked, nothing sent.
	t.Run("apply --dry-run", func(t *testing.T) {
		g := signIn("dry-run")
		e.pollEvents(rcv, stream.StreamID)
		out := e.cli.ok("users:\n  - {username: dry-run, email: dry-run@example.com, status: suspended}\n", "apply", "--dry-run", "-f", "-")
		if !strings.Contains(out, "dry-run") {
			t.Fatalf("dry run output: %s", out)
		}
		time.Sleep(300 * time.Millisecond) // the log follower runs every 100 ms
		if !e.active(g.tok.AccessToken) {
			t.Fatal("a dry run revoked the access token")
		}
		if ev := e.pollEvents(rcv, stream.StreamID); len(ev) != 0 {
			t.Fatalf("a dry run sent events: %v", ev)
		}
		if st := e.cli.ok("", "user", "show", "dry-run", "-o", "json"); !strings.Contains(st, `"status": "active"`) {
			t.Fatalf("a dry run changed the status: %s", st)
		}
	})
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

// TestSuspension_DefenceInDepth: a user whose status changed without any revocation (as
// if one had been missed: here the row is changed behind Weft's back) holds tokens that
// nothing accepts any more: introspection answers inactive, userinfo and the admin API
// refuse the access token, and the refresh token mints nothing (and is revoked).
func TestSuspension_DefenceInDepth(t *testing.T) {
	e := &ssfEnv{oidcEnv: newOIDCEnvWith(t, sqltest.SQLite, `
users:
  - {username: dana, email: dana@example.com, password: dana-password-1}
groups:
  - {name: weft-admins, members: [dana]}
clients:
  - id: console
    name: Admin console
    type: confidential
    secret: console-secret
    redirect_uris: [http://127.0.0.1:9557/callback]
    grant_types: [authorization_code, refresh_token]
    scopes: [openid, offline_access, weft:admin]
    first_party: true
`)}
	ctx := context.Background()
	console := e.web
	console.ClientID, console.ClientSecret, console.RedirectURL = "console", "console-secret", "http://127.0.0.1:9557/callback"
	console.Scopes = []string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess, "weft:admin"}
	verifier := oauth2.GenerateVerifier()
	cb := e.login(e.browser(), console.AuthCodeURL(randomString(), oauth2.S256ChallengeOption(verifier), oidc.Nonce(randomString())),
		"dana", "dana-password-1")
	tok, err := console.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("code exchange: %v", err)
	}
	// Before: every door is open to dana.
	if code, _ := e.call(http.MethodGet, "/api/v1/users?limit=1", tok.AccessToken, "", nil); code != 200 {
		t.Fatalf("admin API before = %d", code)
	}

	// The row changes behind Weft's back: no revocation, no event.
	db, err := sqlstore.Open(ctx, sqlstore.Options{SQLitePath: filepath.Join(dataDir(e.cli), "weft.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Conn(ctx).Exec("UPDATE users SET status = 'suspended' WHERE username = 'dana'").Error; err != nil {
		t.Fatal(err)
	}
	// Let the principal cache's entry, if the admin call above made one, lapse the way
	// a missed event would leave it: restart the server (its memory is gone; the
	// database is as the attacker left it).
	if err := e.srv.stop(); err != nil {
		t.Fatal(err)
	}
	e.srv = startServerAt(t, e.cli.environ, strings.TrimPrefix(e.issuer, "http://"))

	if e.active(tok.AccessToken) {
		t.Fatal("introspection: the token of a suspended user is active")
	}
	if _, err := e.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
		t.Fatal("userinfo answered for a suspended user")
	}
	if code, _ := e.call(http.MethodGet, "/api/v1/users?limit=1", tok.AccessToken, "", nil); code != 401 {
		t.Fatalf("admin API with a suspended user's token = %d, want 401", code)
	}
	stale := &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}
	if _, err := console.TokenSource(ctx, stale).Token(); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("refresh for a suspended user: %v, want invalid_grant", err)
	}
	// The refused grant was revoked too: reactivated, dana still cannot use it.
	if err := db.Conn(ctx).Exec("UPDATE users SET status = 'active' WHERE username = 'dana'").Error; err != nil {
		t.Fatal(err)
	}
	if _, err := console.TokenSource(ctx, stale).Token(); err == nil {
		t.Fatal("the refresh token of a refused grant works again after reactivation")
	}
}

// dataDir is the data directory of a CLI environment.
func dataDir(e *cliEnv) string {
	for _, kv := range e.environ {
		if v, ok := strings.CutPrefix(kv, "WEFT_DATA_DIR="); ok {
			return v
		}
	}
	return ""
}

// passwordUsers are the people whose password the paths below set.
const passwordUsers = `
users:
  - {username: pw-admin, email: pw-admin@example.com, password: pw-admin-password-1}
  - {username: pw-cli, email: pw-cli@example.com, password: pw-cli-password-1}
  - {username: pw-apply, email: pw-apply@example.com, password: pw-apply-password-1}
` + pollReceiver

// TestPasswordChange_Contains: setting a user's password (admin API, CLI, weft apply) is
// containment: the sessions end, the refresh token mints nothing, the access token is
// inactive, receivers get session-revoked and credential-change naming the revocation,
// and the revocation is in the audit log. (Issue 9, M6.)
func TestPasswordChange_Contains(t *testing.T) {
	e := &ssfEnv{oidcEnv: newOIDCEnvWith(t, sqltest.SQLite, passwordUsers)}
	ctx := context.Background()
	rcv := e.token("poll-receiver", "poll-receiver-secret", "weft:ssf")
	stream := e.createStream(rcv, `{"delivery":{"method":"`+methodPoll+`"},"default_subjects":"ALL","events_requested":["`+evSessionRevoked+`","`+evCredentialChange+`"]}`)
	admin := e.token("demo-admin", "demo-admin-secret", "weft:admin")
	for _, p := range []struct {
		user   string
		change func(username string)
	}{
		{"pw-admin", func(u string) {
			if code, _ := e.call(http.MethodPut, "/api/v1/users/"+e.cli.userID(t, u)+"/password", admin, `{"password":"a-brand-new-password-1"}`, nil); code != 204 {
				t.Fatalf("admin PUT password: %d", code)
			}
		}},
		{"pw-cli", func(u string) { e.cli.ok("a-brand-new-password-1\n", "user", "set-password", u, "--password-stdin") }},
		{"pw-apply", func(u string) {
			e.cli.ok(fmt.Sprintf("users:\n  - {username: %s, email: %s@example.com, password: a-brand-new-password-1}\n", u, u), "apply", "-f", "-")
		}},
	} {
		t.Run(p.user, func(t *testing.T) {
			verifier := oauth2.GenerateVerifier()
			cb := e.login(e.browser(), e.web.AuthCodeURL(randomString(), oauth2.S256ChallengeOption(verifier), oidc.Nonce(randomString())),
				p.user, p.user+"-password-1")
			tok, err := e.web.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatal(err)
			}
			e.pollEvents(rcv, stream.StreamID)
			p.change(p.user)

			deadline := time.Now().Add(2 * time.Second)
			for e.active(tok.AccessToken) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if e.active(tok.AccessToken) {
				t.Fatal("the access token is still active after the password was set")
			}
			stale := &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}
			if _, err := e.web.TokenSource(ctx, stale).Token(); err == nil {
				t.Fatal("the refresh token still works after the password was set")
			}
			ev := e.pollEvents(rcv, stream.StreamID)
			if len(ev[evSessionRevoked]) != 1 || len(ev[evCredentialChange]) != 1 {
				t.Fatalf("receiver got %d session-revoked and %d credential-change, want 1 and 1", len(ev[evSessionRevoked]), len(ev[evCredentialChange]))
			}
			cc := ev[evCredentialChange][0]
			if cc["txn"] == nil || cc["txn"] != ev[evSessionRevoked][0]["txn"] {
				t.Fatalf("credential-change txn %v, session-revoked txn %v: want the same revocation", cc["txn"], ev[evSessionRevoked][0]["txn"])
			}
			// The new password works: the user signs in again.
			e.login(e.browser(), e.web.AuthCodeURL(randomString(), oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oidc.Nonce(randomString())),
				p.user, "a-brand-new-password-1")
		})
	}
}
