package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// TestSessionsAdminAPI_EndToEnd: on the real server, sessions that users opened through
// the browser flow are found by every filter, shown with their tokens (never the token
// values), and revoked; suspending through the admin API and through the CLI ends every
// session and token at once; reactivation restores nothing; the last administrator
// cannot be suspended or removed.
func TestSessionsAdminAPI_EndToEnd(t *testing.T) {
	for _, b := range sqltest.Backends {
		t.Run(string(b), func(t *testing.T) {
			o := newOIDCEnv(t, b)
			ctx := context.Background()
			adminToken := func(scope string) string {
				cc := clientcredentials.Config{ClientID: "demo-admin", ClientSecret: "demo-admin-secret",
					TokenURL: o.provider.Endpoint().TokenURL, Scopes: []string{scope}}
				tok, err := cc.Token(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return tok.AccessToken
			}
			write, read := adminToken("weft:admin"), adminToken("weft:admin:read")
			api := func(method, path, bearer, body string) (int, []byte) {
				t.Helper()
				var rd *strings.Reader
				if body != "" {
					rd = strings.NewReader(body)
				}
				var req *http.Request
				if rd != nil {
					req, _ = http.NewRequest(method, o.issuer+"/api/v1"+path, rd)
					req.Header.Set("Content-Type", "application/json")
				} else {
					req, _ = http.NewRequest(method, o.issuer+"/api/v1"+path, nil)
				}
				if bearer != "" {
					req.Header.Set("Authorization", "Bearer "+bearer)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				out := readAll(t, resp)
				if resp.StatusCode >= 400 && resp.Header.Get("Content-Type") != "application/problem+json" {
					t.Fatalf("%s %s: %d with %s", method, path, resp.StatusCode, resp.Header.Get("Content-Type"))
				}
				return resp.StatusCode, []byte(out)
			}
			type session struct {
				ID       string   `json:"id"`
				UserID   string   `json:"user_id"`
				Active   bool     `json:"active"`
				Clients  []string `json:"clients"`
				DeviceID string   `json:"device_id"`
				IP       string   `json:"ip"`
				Tokens   []struct {
					Kind     string   `json:"kind"`
					ClientID string   `json:"client_id"`
					Scopes   []string `json:"scopes"`
					Active   bool     `json:"active"`
				} `json:"tokens"`
			}
			list := func(query string) []session {
				t.Helper()
				code, body := api(http.MethodGet, "/sessions?"+query, read, "")
				var l struct{ Items []session }
				if code != 200 || json.Unmarshal(body, &l) != nil {
					t.Fatalf("list %s: %d %s", query, code, body)
				}
				return l.Items
			}
			signIn := func(user, pw string) *oauth2.Token {
				t.Helper()
				v := oauth2.GenerateVerifier()
				cb := o.login(o.browser(), o.web.AuthCodeURL(randomString(), oauth2.S256ChallengeOption(v)), user, pw)
				tok, err := o.web.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(v))
				if err != nil {
					t.Fatal(err)
				}
				return tok
			}

			alice := signIn("alice", "alice-demo-password-1")
			mine := list("user=alice")
			if len(mine) != 1 || len(mine[0].Clients) != 1 || mine[0].Clients[0] != "demo-web" || !mine[0].Active || mine[0].DeviceID == "" {
				t.Fatalf("alice's sessions: %+v", mine)
			}
			s := mine[0]
			for _, q := range []string{"client=demo-web", "device=" + url.QueryEscape(s.DeviceID), "ip=" + s.IP, "user=" + s.UserID,
				"user=alice&client=demo-web&ip=" + s.IP} {
				if got := list(q); len(got) != 1 || got[0].ID != s.ID {
					t.Fatalf("%s: %+v", q, got)
				}
			}
			for _, q := range []string{"client=demo-spa", "user=bob", "device=other", "ip=192.0.2.1", "active=false"} {
				if got := list(q); len(got) != 0 {
					t.Fatalf("%s matched %+v", q, got)
				}
			}
			for _, q := range []string{"ip=nope", "active=maybe"} {
				if code, body := api(http.MethodGet, "/sessions?"+q, read, ""); code != 400 {
					t.Fatalf("%s: %d %s", q, code, body)
				}
			}

			// Show: the code (redeemed), the access and the refresh token, no values.
			code, body := api(http.MethodGet, "/sessions/"+s.ID, read, "")
			var d session
			if code != 200 || json.Unmarshal(body, &d) != nil {
				t.Fatalf("show: %d %s", code, body)
			}
			kinds := map[string]bool{}
			for _, tk := range d.Tokens {
				kinds[tk.Kind] = tk.Active
				if tk.ClientID != "demo-web" {
					t.Fatalf("token of %s", tk.ClientID)
				}
			}
			if len(kinds) != 3 || kinds["code"] || !kinds["access"] || !kinds["refresh"] {
				t.Fatalf("tokens: %+v", d.Tokens)
			}
			if strings.Contains(string(body), alice.AccessToken) || strings.Contains(string(body), alice.RefreshToken) ||
				strings.Contains(string(body), strings.SplitN(alice.AccessToken, ".", 2)[1]) {
				t.Fatal("a token value or signature is in the session view")
			}

			// Authorization and bad input change nothing.
			if code, _ := api(http.MethodGet, "/sessions", "", ""); code != 401 {
				t.Fatalf("no token: %d", code)
			}
			if code, _ := api(http.MethodDelete, "/sessions/"+s.ID+"?reason=x", read, ""); code != 403 {
				t.Fatalf("read scope deleting: %d", code)
			}
			if code, _ := api(http.MethodDelete, "/sessions/"+s.ID, write, ""); code != 400 {
				t.Fatalf("no reason: %d", code)
			}
			if code, _ := api(http.MethodDelete, "/sessions/no-such-session?reason=x", write, ""); code != 404 {
				t.Fatalf("unknown session: %d", code)
			}
			if !o.active(alice.AccessToken) {
				t.Fatal("a refused call revoked alice's token")
			}

			// Revoke the session: its tokens stop working at once.
			code, body = api(http.MethodDelete, "/sessions/"+s.ID, write, `{"reason":"lost laptop"}`)
			var rec struct {
				ID      string `json:"id"`
				Actor   string `json:"actor"`
				Matched struct{ Sessions, Tokens int64 }
			}
			if code != 200 || json.Unmarshal(body, &rec) != nil || rec.Actor != "demo-admin" || rec.Matched.Sessions != 1 || rec.Matched.Tokens < 2 {
				t.Fatalf("revoke: %d %s", code, body)
			}
			if o.active(alice.AccessToken) {
				t.Fatal("alice's token is active after her session was revoked")
			}
			if _, err := o.web.TokenSource(ctx, &oauth2.Token{RefreshToken: alice.RefreshToken}).Token(); err == nil {
				t.Fatal("the revoked session's refresh token still works")
			}

			// Suspension through the admin API.
			alice = signIn("alice", "alice-demo-password-1")
			if !o.active(alice.AccessToken) {
				t.Fatal("new token inactive")
			}
			code, body = api(http.MethodPatch, "/users/"+s.UserID, write, `{"status":"suspended"}`)
			if code != 200 || !strings.Contains(string(body), `"suspended"`) {
				t.Fatalf("suspend: %d %s", code, body)
			}
			if o.active(alice.AccessToken) || len(list("user=alice")) != 0 {
				t.Fatal("suspension left alice a token or a session")
			}
			// Reactivation (CLI) restores nothing.
			o.cli.ok("", "user", "activate", "alice")
			if o.active(alice.AccessToken) || len(list("user=alice")) != 0 {
				t.Fatal("reactivation resurrected a token or a session")
			}

			// Suspension through the CLI; a running server drops its cached answer within
			// a second or two (on SQLite through the revocation watch).
			alice = signIn("alice", "alice-demo-password-1")
			if !o.active(alice.AccessToken) { // cached by the server now
				t.Fatal("new token inactive")
			}
			out := o.cli.ok("", "user", "suspend", "alice", "-o", "json")
			if !strings.Contains(out, `"revocation"`) || !strings.Contains(out, `"suspended"`) {
				t.Fatalf("CLI suspend: %s", out)
			}
			deadline := time.Now().Add(5 * time.Second)
			for o.active(alice.AccessToken) {
				if time.Now().After(deadline) {
					t.Fatal("alice's token is still active 5 s after weft user suspend")
				}
				time.Sleep(100 * time.Millisecond)
			}
			if len(list("user=alice&active=true")) != 0 {
				t.Fatal("CLI suspension left a session")
			}

			// The last administrator.
			o.cli.ok("", "group", "create", "weft-admins")
			o.cli.ok("", "group", "add-member", "weft-admins", "bob")
			for _, args := range [][]string{{"user", "suspend", "bob"}, {"user", "deprovision", "bob"}, {"group", "remove-member", "weft-admins", "bob"}} {
				r := o.cli.run("", args...)
				if r.code != exitConflict || !strings.Contains(r.stderr, "weft-admins must keep at least one active member") {
					t.Fatalf("weft %v: exit %d, %s", args, r.code, r.stderr)
				}
			}
			var bobID string
			if out := o.cli.ok("", "user", "show", "bob", "-o", "json"); !strings.Contains(out, `"status": "active"`) {
				t.Fatalf("bob after refusals: %s", out)
			} else {
				var v struct{ ID string }
				_ = json.Unmarshal([]byte(out), &v)
				bobID = v.ID
			}
			if code, body := api(http.MethodPatch, "/users/"+bobID, write, `{"status":"suspended"}`); code != 409 || !strings.Contains(string(body), "weft-admins") {
				t.Fatalf("admin API suspending the last admin: %d %s", code, body)
			}
			o.cli.ok("", "user", "create", "dave")
			o.cli.ok("", "group", "add-member", "weft-admins", "dave")
			o.cli.ok("", "user", "suspend", "bob")
		})
	}
}
