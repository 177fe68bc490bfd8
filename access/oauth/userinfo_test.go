package oauth_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/identity"
)

// TestUserinfo: the UserInfo endpoint (OIDC Core 5.3) answers a live access token with
// the claims its scopes release, from the directory as it is now; every other bearer
// gets RFC 6750 3.1's error and challenge, and nothing about the user.
func TestUserinfo(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		ctx := context.Background()
		_, _, alice := en.signIn()
		_, _, revoked := en.signIn()
		if r := en.form(access.PathRevoke, url.Values{"token": {revoked.AccessToken}}, webID, webSecret); r.code != http.StatusOK {
			t.Fatalf("revoke: %s", r)
		}
		// A user suspended after the token was issued. Suspension normally revokes the
		// tokens too (the revocation service, not wired here); userinfo checks the
		// directory on its own.
		dave := en.user(identity.NewUser{Username: "dave", Email: "dave@example.com"})
		if err := en.consents.SaveConsent(ctx, access.Consent{UserID: dave.ID, ClientID: webID,
			Scopes: []string{"openid", "profile", "email", "offline_access"}}); err != nil {
			t.Fatal(err)
		}
		_, daveCookie := en.login(dave)
		v := oauth2.GenerateVerifier()
		daveTokens := en.decodeTokens(en.exchange(en.code(authQuery(v), daveCookie), v))
		if _, _, err := en.dir.SetStatus(ctx, dave.ID, identity.StatusSuspended); err != nil {
			t.Fatal(err)
		}

		t.Run("access token", func(t *testing.T) {
			en := en.at(t)
			r := en.userinfo(alice.AccessToken)
			body := r.json()
			if r.code != http.StatusOK || r.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("got %s", r)
			}
			want := map[string]any{"sub": en.alice.ID, "preferred_username": "alice", "name": "Alice Example",
				"email": "alice@example.com", "email_verified": false}
			for k, v := range want {
				if body[k] != v {
					t.Errorf("%s = %v, want %v", k, body[k], v)
				}
			}
			if len(body) != len(want) {
				t.Errorf("claims %v, want exactly %v", body, want)
			}
		})

		for _, tc := range []struct {
			name   string
			token  string
			status int
			err    string
			// challenge is part of the WWW-Authenticate header.
			challenge string
		}{
			// RFC 6750 section 3.1: no error code when the request has no credentials.
			{"no token", "", 401, "", `Bearer realm="weft"`},
			{"refresh token", alice.RefreshToken, 401, "invalid_token", `error="invalid_token"`},
			{"revoked access token", revoked.AccessToken, 401, "invalid_token", `error="invalid_token"`},
			{"ID token", alice.IDToken, 401, "invalid_token", `error="invalid_token"`},
			{"unknown token", "ory_at_bm90LWEtdG9rZW4.bm90LWEtc2lnbmF0dXJl", 401, "invalid_token", `error="invalid_token"`},
			{"machine token without openid", en.machineToken(), 403, "insufficient_scope", `error="insufficient_scope", scope="openid"`},
			{"token of a suspended user", daveTokens.AccessToken, 401, "invalid_token", `error="invalid_token"`},
			// RFC 6750 section 2.3 discourages tokens in the URI: they end up in logs.
			{"token in the query", "query:" + alice.AccessToken, 401, "", `Bearer realm="weft"`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				en := en.at(t)
				before := en.snapshot()
				r := en.userinfo(tc.token)
				body := r.json()
				if errCode, _ := body["error"].(string); r.code != tc.status || errCode != tc.err || !strings.Contains(r.header.Get("WWW-Authenticate"), tc.challenge) {
					t.Fatalf("got %s (WWW-Authenticate %q), want %d %s", r, r.header.Get("WWW-Authenticate"), tc.status, tc.err)
				}
				if _, ok := body["sub"]; ok {
					t.Fatalf("a refusal carries claims: %s", r.body)
				}
				en.unchanged(t, before)
			})
		}
	})
}
