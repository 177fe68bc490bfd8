package oauth_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/weft-fabric/weft/access"
)

// TestIntrospect_CallerAuthentication: only a client that proves its secret with HTTP
// Basic and holds the introspection capability learns anything about a token (RFC 7662
// 2.1 and 4). The others get an error and no "active" member; nothing changes.
func TestIntrospect_CallerAuthentication(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		token := en.machineToken()
		for _, tc := range []struct {
			name   string
			req    func() *http.Request
			status int
			err    string
		}{
			{"no client authentication", func() *http.Request { return introspectRequest(token, "", "", nil) }, 401, "request_unauthorized"},
			{"wrong secret", func() *http.Request { return introspectRequest(token, gatewayID, "wrong", nil) }, 401, "request_unauthorized"},
			{"unknown client", func() *http.Request { return introspectRequest(token, "nobody", "x", nil) }, 401, "request_unauthorized"},
			{"public client", func() *http.Request { return introspectRequest(token, spaID, "", nil) }, 401, "request_unauthorized"},
			{"bearer token as the caller's credential", func() *http.Request {
				r := introspectRequest(token, "", "", nil)
				r.Header.Set("Authorization", "Bearer "+token)
				return r
			}, 401, "request_unauthorized"},
			{"client_secret_post", func() *http.Request {
				return introspectRequest(token, "", "", url.Values{"client_id": {gatewayID}, "client_secret": {gatewaySecret}})
			}, 401, "request_unauthorized"},
			// Authenticated, but not allowed to introspect: told so, and nothing about the token.
			{"client without the introspection capability", func() *http.Request { return introspectRequest(token, m2mID, m2mSecret, nil) }, 403, "access_denied"},
			{"missing token parameter", func() *http.Request { return introspectRequest("", gatewayID, gatewaySecret, nil) }, 400, "invalid_request"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				en := en.at(t)
				before := en.snapshot()
				r := en.serve(tc.req())
				wantOAuthError(t, r, tc.status, tc.err)
				if r.header.Get("Cache-Control") != "no-store" {
					t.Errorf("Cache-Control = %q", r.header.Get("Cache-Control"))
				}
				en.unchanged(t, before)
			})
		}
		if !en.active(token) {
			t.Fatal("the token is no longer active")
		}
	})
}

// introspectRequest posts token (omitted when empty) and extra to the introspection
// endpoint, with HTTP Basic credentials when id is set.
func introspectRequest(token, id, secret string, extra url.Values) *http.Request {
	form := url.Values{}
	if token != "" {
		form.Set("token", token)
	}
	for k, vs := range extra {
		form[k] = vs
	}
	r, _ := http.NewRequest(http.MethodPost, issuer+access.PathIntrospect, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	return r
}

// TestIntrospect_Tokens: what the gateway learns of each kind of token (RFC 7662 2.2).
func TestIntrospect_Tokens(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		ls, cookie, user := en.signIn()
		machine := en.machineToken()
		revoked := en.machineToken()
		if r := en.form(access.PathRevoke, url.Values{"token": {revoked}}, m2mID, m2mSecret); r.code != http.StatusOK {
			t.Fatalf("revoke: %s", r)
		}
		v := oauth2.GenerateVerifier()
		code := en.code(authQuery(v), cookie)

		userClaims := map[string]any{"active": true, "sub": en.alice.ID, "client_id": webID, "username": "alice", "sid": ls.ID,
			"scope": "openid profile email offline_access", "token_type": "Bearer"}
		for _, tc := range []struct {
			name  string
			token string
			want  map[string]any // the members the answer must have; nil: exactly {"active":false}
		}{
			{"user's access token", user.AccessToken, userClaims},
			{"machine's access token", machine, map[string]any{"active": true, "sub": en.machine.ID, "client_id": m2mID,
				"scope": "api.read", "token_type": "Bearer"}},
			// A refresh token is never a bearer token: a gateway sees it inactive (issue 9,
			// M3; fosite alone answered active with token_type Bearer and the access token's
			// exp). Its own client sees it as what it is: TestIntrospect_RefreshTokenToItsClient.
			{"refresh token", user.RefreshToken, nil},
			{"revoked access token", revoked, nil},
			{"authorization code", code, nil},
			{"ID token", user.IDToken, nil},
			{"unknown token", "ory_at_bm90LWEtdG9rZW4.bm90LWEtc2lnbmF0dXJl", nil},
			{"not a token", "hello", nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				en := en.at(t)
				before := en.snapshot()
				r := en.introspect(tc.token, gatewayID, gatewaySecret)
				body := r.json()
				if r.code != http.StatusOK || r.header.Get("Cache-Control") != "no-store" {
					t.Fatalf("got %s (Cache-Control %q)", r, r.header.Get("Cache-Control"))
				}
				if tc.want == nil {
					if len(body) != 1 || body["active"] != false {
						t.Fatalf("got %s, want exactly {\"active\":false}", r.body)
					}
				} else {
					for k, want := range tc.want {
						if body[k] != want {
							t.Errorf("%s = %v, want %v", k, body[k], want)
						}
					}
					exp, _ := body["exp"].(float64)
					iat, _ := body["iat"].(float64)
					if exp <= iat || iat == 0 {
						t.Errorf("exp %v, iat %v", body["exp"], body["iat"])
					}
					if _, ok := body["aud"]; ok {
						t.Errorf("aud %v, but no audience was requested", body["aud"])
					}
				}
				en.unchanged(t, before)
			})
		}
	})
}

// A client that introspects its own refresh token learns that it is one, with the
// refresh token's own expiry, never "Bearer" and the access token's.
func TestIntrospect_RefreshTokenToItsClient(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		_, _, user := en.signIn()
		r := en.introspect(user.RefreshToken, webID, webSecret)
		body := r.json()
		exp, _ := body["exp"].(float64)
		iat, _ := body["iat"].(float64)
		if r.code != http.StatusOK || body["active"] != true || body["token_type"] != "refresh_token" || body["client_id"] != webID ||
			body["sub"] != en.alice.ID || exp-iat < (20*time.Hour).Seconds() {
			t.Fatalf("got %s: want active refresh_token with the refresh token's own lifetime", r.body)
		}
		// The access token of the same grant is still Bearer, with its short lifetime.
		r = en.introspect(user.AccessToken, webID, webSecret)
		body = r.json()
		exp, _ = body["exp"].(float64)
		iat, _ = body["iat"].(float64)
		if body["token_type"] != "Bearer" || exp-iat > time.Hour.Seconds() {
			t.Fatalf("access token: %s", r.body)
		}
	})
}
