package oauth_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/identity"
)

// TestIntrospect_LeanAnswersAsFositeDoes: once the gateway's secret is a cached verdict,
// its introspections of active access tokens take the lean path, and each answer is the
// one fosite writes for the same token, byte for byte and header for header. fosite's
// answer is had by naming the refresh_token hint, which the lean path leaves to fosite.
func TestIntrospect_LeanAnswersAsFositeDoes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		_, _, user := en.signIn()
		for _, tc := range []struct{ name, token string }{
			{"machine token", en.machineToken()},
			{"user token with a session", user.AccessToken},
		} {
			t.Run(tc.name, func(t *testing.T) {
				// The first call proves the secret the slow way (argon2id, then cached).
				first := en.introspectForm(url.Values{"token": {tc.token}, "token_type_hint": {"refresh_token"}})
				before := en.handler.LeanIntrospections()
				slow := en.introspectForm(url.Values{"token": {tc.token}, "token_type_hint": {"refresh_token"}})
				if got := en.handler.LeanIntrospections(); got != before {
					t.Fatalf("a refresh_token hint took the lean path (%d -> %d)", before, got)
				}
				lean := en.introspectForm(url.Values{"token": {tc.token}})
				hinted := en.introspectForm(url.Values{"token": {tc.token}, "token_type_hint": {"access_token"}})
				if got := en.handler.LeanIntrospections(); got != before+2 {
					t.Fatalf("lean introspections went %d -> %d, want +2", before, got)
				}
				if slow.code != http.StatusOK || slow.json()["active"] != true {
					t.Fatalf("fosite's answer: %s", slow)
				}
				if string(first.body) != string(slow.body) {
					t.Fatalf("fosite answered differently with the secret cached:\n%s\n%s", first.body, slow.body)
				}
				for _, r := range []response{lean, hinted} {
					if r.code != slow.code || string(r.body) != string(slow.body) {
						t.Errorf("lean answer %d %s\nfosite's    %d %s", r.code, r.body, slow.code, slow.body)
					}
					for _, h := range []string{"Content-Type", "Cache-Control", "Pragma", "Content-Length"} {
						if r.header.Get(h) != slow.header.Get(h) {
							t.Errorf("%s: lean %q, fosite %q", h, r.header.Get(h), slow.header.Get(h))
						}
					}
				}
			})
		}
		if body := string(en.introspect(user.AccessToken, gatewayID, gatewaySecret).body); !strings.Contains(body, `"sid":`) ||
			!strings.Contains(body, `"token_type":"Bearer"`) {
			t.Errorf("a user's token lacks sid or token_type: %s", body)
		}
	})
}

// TestIntrospect_LeanPathRefusesWhatFositeRefuses: with the gateway's verdict cached and
// the token cached active, everything that makes fosite or the gate say no still does.
// Each case states the answer and whether the lean path may have given it: a refusal
// the lean path cannot decide (a wrong secret, a tampered token) must reach fosite.
func TestIntrospect_LeanPathRefusesWhatFositeRefuses(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		ctx := context.Background()
		warm := func(t *testing.T, token string) {
			t.Helper()
			for range 2 { // the secret's verdict, then the token, both cached
				if !en.active(token) {
					t.Fatal("token not active to start with")
				}
			}
		}
		_, _, user := en.signIn()
		userToken := user.AccessToken
		warm(t, userToken)
		for _, tc := range []struct {
			name string
			// act changes the world and returns the token and the request to make.
			act    func(t *testing.T, token string) (id, secret string, form url.Values)
			status int
			active bool
			lean   bool // answered by the lean path
		}{
			{"still active", func(t *testing.T, token string) (string, string, url.Values) {
				return gatewayID, gatewaySecret, url.Values{"token": {token}}
			}, 200, true, true},
			{"wrong secret", func(t *testing.T, token string) (string, string, url.Values) {
				return gatewayID, "wrong-secret", url.Values{"token": {token}}
			}, 401, false, false},
			{"tampered token, same signature", func(t *testing.T, token string) (string, string, url.Values) {
				return gatewayID, gatewaySecret, url.Values{"token": {tamper(t, token)}}
			}, 200, false, false},
			{"revoked token", func(t *testing.T, token string) (string, string, url.Values) {
				if r := en.form(access.PathRevoke, url.Values{"token": {token}}, m2mID, m2mSecret); r.code != 200 {
					t.Fatalf("revoke: %s", r)
				}
				return gatewayID, gatewaySecret, url.Values{"token": {token}}
			}, 200, false, false},
			{"caller without the capability", func(t *testing.T, token string) (string, string, url.Values) {
				// demo-m2m's verdict is cached by the token call; it may not introspect.
				return m2mID, m2mSecret, url.Values{"token": {token}}
			}, 403, false, false},
			{"unknown token", func(t *testing.T, token string) (string, string, url.Values) {
				return gatewayID, gatewaySecret, url.Values{"token": {"ory_at_nothing.nothing"}}
			}, 200, false, false},
			{"subject suspended (the gate says no)", func(t *testing.T, _ string) (string, string, url.Values) {
				// No account observer here: the token stays, and the gate must refuse it.
				if _, _, err := en.dir.SetStatus(ctx, en.alice.ID, identity.StatusSuspended); err != nil {
					t.Fatal(err)
				}
				return gatewayID, gatewaySecret, url.Values{"token": {userToken}}
			}, 200, false, true},
			// Last: nobody introspects after it.
			{"caller disabled", func(t *testing.T, token string) (string, string, url.Values) {
				if _, _, err := en.clients.SetStatus(ctx, gatewayID, access.ClientDisabled); err != nil {
					t.Fatal(err)
				}
				return gatewayID, gatewaySecret, url.Values{"token": {token}}
			}, 401, false, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				en := en.at(t)
				token := en.machineToken()
				warm(t, token)
				id, secret, form := tc.act(t, token)
				before := en.handler.LeanIntrospections()
				r := en.form(access.PathIntrospect, form, id, secret)
				if r.code != tc.status {
					t.Fatalf("status %s, want %d", r, tc.status)
				}
				if r.code == 200 && (r.json()["active"] == true) != tc.active {
					t.Fatalf("answer %s, want active=%v", r.body, tc.active)
				}
				if !tc.active && r.code == 200 && len(r.json()) != 1 {
					t.Errorf("an inactive answer says more than active: %s", r.body)
				}
				if lean := en.handler.LeanIntrospections() > before; lean != tc.lean {
					t.Errorf("answered by the lean path: %v, want %v", lean, tc.lean)
				}
			})
		}
	})
}

// TestIntrospect_LeanPathLeavesBadFormsToFosite: a body the lean path does not read
// (multipart, a repeated token, a scope to check) is fosite's, with fosite's answer.
func TestIntrospect_LeanPathLeavesBadFormsToFosite(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		token := en.machineToken()
		en.active(token)
		en.active(token)
		before := en.handler.LeanIntrospections()
		for _, tc := range []struct {
			name   string
			form   url.Values
			status int
			active bool
		}{
			{"scope the token holds", url.Values{"token": {token}, "scope": {"api.read"}}, 200, true},
			{"scope the token lacks", url.Values{"token": {token}, "scope": {"api.write"}}, 200, false},
			{"token repeated", url.Values{"token": {token, "other"}}, 200, true},
			{"empty token", url.Values{"token": {""}}, 200, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := en.introspectForm(tc.form)
				if r.code != tc.status || (r.code == 200 && (r.json()["active"] == true) != tc.active) {
					t.Fatalf("got %s, want %d active=%v", r, tc.status, tc.active)
				}
			})
		}
		t.Run("unparsable body", func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, issuer+access.PathIntrospect, strings.NewReader("token=%zz"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(gatewayID, gatewaySecret)
			wantOAuthError(t, en.serve(req), 400, "invalid_request")
		})
		if got := en.handler.LeanIntrospections(); got != before {
			t.Errorf("the lean path answered %d of these", got-before)
		}
	})
}

// introspectForm posts form as the gateway.
func (en *env) introspectForm(form url.Values) response {
	return en.form(access.PathIntrospect, form, gatewayID, gatewaySecret)
}

// tamper changes the key part of an opaque token and keeps its signature part, which
// is what storage looks tokens up by. It changes a character in the middle: the last
// one of unpadded base64 carries bits a decoder ignores.
func tamper(t *testing.T, token string) string {
	t.Helper()
	key, sig, ok := strings.Cut(token, ".")
	if !ok || len(key) < 20 {
		t.Fatalf("not an opaque token: %q", token)
	}
	i := len(key) - 10
	repl := byte('A')
	if key[i] == 'A' {
		repl = 'B'
	}
	return key[:i] + string(repl) + key[i+1:] + "." + sig
}
