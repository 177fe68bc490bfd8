package oauth_test

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"flag"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/weft-fabric/weft/access"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// verifier checks ID tokens as a relying party would: against the keys the JWKS
// endpoint publishes, for client.
func (en *env) verifier(client string) *oidc.IDTokenVerifier {
	en.t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(en.get(access.PathJWKS, nil).body, &set); err != nil {
		en.t.Fatal(err)
	}
	var pubs []crypto.PublicKey
	for _, k := range set.Keys {
		pubs = append(pubs, k.Key)
	}
	return oidc.NewVerifier(issuer, &oidc.StaticKeySet{PublicKeys: pubs}, &oidc.Config{ClientID: client, SupportedSigningAlgs: []string{"ES256"}})
}

// TestAuthorizationCodeFlow: the code flow with PKCE through the handler, from a live
// login session to tokens, their introspection, UserInfo and a refresh that rotates.
func TestAuthorizationCodeFlow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		ctx := context.Background()
		ls, cookie := en.login(en.alice)
		v := oauth2.GenerateVerifier()
		q := authQuery(v)

		before := en.snapshot()
		r := en.get(access.PathAuthorize, q, cookie)
		loc := r.location()
		if r.code != http.StatusSeeOther || loc == nil {
			t.Fatalf("authorization: %s", r)
		}
		cb := *loc
		cb.RawQuery = ""
		if cb.String() != webCallback || loc.Query().Get("state") != q.Get("state") || loc.Query().Get("code") == "" {
			t.Fatalf("callback %s", loc)
		}
		// The code is stored, and the session now counts demo-web among its clients.
		after := en.snapshot()
		if len(after["oauth_authorization_codes"]) != len(before["oauth_authorization_codes"])+1 {
			t.Fatalf("codes: %d before, %d after", len(before["oauth_authorization_codes"]), len(after["oauth_authorization_codes"]))
		}
		if got, err := en.sessions.Get(ctx, ls.ID); err != nil || !slices.Equal(got.Clients, []string{webID}) {
			t.Fatalf("session clients = %v, %v", got.Clients, err)
		}

		tk := en.decodeTokens(en.exchange(loc.Query().Get("code"), v))
		if tk.AccessToken == "" || tk.RefreshToken == "" || tk.IDToken == "" || !strings.EqualFold(tk.TokenType, "bearer") ||
			tk.ExpiresIn < 590 || tk.ExpiresIn > 600 || tk.Scope != "openid profile email offline_access" {
			t.Fatalf("token response %+v", tk)
		}
		idt, err := en.verifier(webID).Verify(ctx, tk.IDToken)
		if err != nil {
			t.Fatalf("ID token: %v", err)
		}
		if err := idt.VerifyAccessToken(tk.AccessToken); err != nil {
			t.Fatalf("at_hash: %v", err)
		}
		var claims struct {
			Sid, Email, Name, Acr string
			PreferredUsername     string `json:"preferred_username"`
			Amr                   []string
			AuthTime              int64 `json:"auth_time"`
		}
		if err := idt.Claims(&claims); err != nil {
			t.Fatal(err)
		}
		if idt.Subject != en.alice.ID || idt.Nonce != q.Get("nonce") || claims.Sid != ls.ID || claims.AuthTime != ls.AuthTime.Unix() ||
			claims.Acr != acr || !slices.Equal(claims.Amr, []string{"pwd"}) || claims.Email != "alice@example.com" ||
			claims.Name != "Alice Example" || claims.PreferredUsername != "alice" {
			t.Fatalf("ID token: sub %s nonce %s, claims %+v", idt.Subject, idt.Nonce, claims)
		}

		in := en.introspect(tk.AccessToken, gatewayID, gatewaySecret).json()
		for k, want := range map[string]any{"active": true, "sub": en.alice.ID, "client_id": webID, "sid": ls.ID, "username": "alice",
			"scope": "openid profile email offline_access", "token_type": "Bearer"} {
			if in[k] != want {
				t.Errorf("introspection %s = %v, want %v", k, in[k], want)
			}
		}
		if ui := en.userinfo(tk.AccessToken); ui.code != http.StatusOK || ui.json()["sub"] != en.alice.ID {
			t.Fatalf("userinfo: %s", ui)
		}

		// Refresh rotates: new access and refresh tokens and a new ID token for the same
		// subject; the previous access token is retired.
		fresh := en.decodeTokens(en.form(access.PathToken, url.Values{"grant_type": {access.GrantRefreshToken},
			"refresh_token": {tk.RefreshToken}}, webID, webSecret))
		if fresh.RefreshToken == "" || fresh.RefreshToken == tk.RefreshToken || fresh.AccessToken == tk.AccessToken {
			t.Fatalf("refresh did not rotate: %+v", fresh)
		}
		if fidt, err := en.verifier(webID).Verify(ctx, fresh.IDToken); err != nil || fidt.Subject != en.alice.ID {
			t.Fatalf("refreshed ID token: %v", err)
		}
		if en.active(tk.AccessToken) || !en.active(fresh.AccessToken) || !en.active(fresh.RefreshToken) {
			t.Fatal("after the refresh, the old access token is active or the new tokens are not")
		}
	})
}

// TestAuthorizationCodeFlow_PublicClient: a public client redeems its code with PKCE
// alone, and gets no refresh token (it has neither the grant nor offline_access).
func TestAuthorizationCodeFlow_PublicClient(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		_, cookie := en.login(en.alice)
		if err := en.consents.SaveConsent(context.Background(), access.Consent{UserID: en.alice.ID, ClientID: spaID,
			Scopes: []string{"openid", "profile", "email"}}); err != nil {
			t.Fatal(err)
		}
		v := oauth2.GenerateVerifier()
		q := authQuery(v)
		q.Set("client_id", spaID)
		q.Set("redirect_uri", spaCallback)
		q.Set("scope", "openid email")
		code := en.code(q, cookie)
		tk := en.decodeTokens(en.form(access.PathToken, url.Values{"grant_type": {access.GrantAuthorizationCode}, "code": {code},
			"redirect_uri": {spaCallback}, "code_verifier": {v}, "client_id": {spaID}}, "", ""))
		if tk.AccessToken == "" || tk.IDToken == "" || tk.RefreshToken != "" {
			t.Fatalf("token response %+v", tk)
		}
		if _, err := en.verifier(spaID).Verify(context.Background(), tk.IDToken); err != nil {
			t.Fatal(err)
		}
	})
}

// TestClientCredentials: a confidential client authenticates either way (client_secret_basic
// or client_secret_post); its token's subject is the machine identity it acts for; it
// gets no refresh or ID token; revoking the token deactivates it.
func TestClientCredentials(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		form := url.Values{"grant_type": {access.GrantClientCredentials}, "scope": {"api.read"}}
		post := url.Values{"grant_type": {access.GrantClientCredentials}, "scope": {"api.read"}, "client_id": {m2mID}, "client_secret": {m2mSecret}}
		for _, tc := range []struct {
			name       string
			form       url.Values
			id, secret string
		}{
			{"client_secret_basic", form, m2mID, m2mSecret},
			{"client_secret_post", post, "", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				en := en.at(t)
				r := en.form(access.PathToken, tc.form, tc.id, tc.secret)
				tk := en.decodeTokens(r)
				if tk.AccessToken == "" || tk.RefreshToken != "" || tk.IDToken != "" || tk.Scope != "api.read" {
					t.Fatalf("token response %s", r.body)
				}
				if strings.Count(tk.AccessToken, ".") != 1 {
					t.Fatalf("access token %q is not opaque", tk.AccessToken)
				}
				in := en.introspect(tk.AccessToken, gatewayID, gatewaySecret).json()
				if in["active"] != true || in["sub"] != en.machine.ID || in["client_id"] != m2mID || in["scope"] != "api.read" || in["sid"] != nil {
					t.Fatalf("introspection %v", in)
				}
				if r := en.form(access.PathRevoke, url.Values{"token": {tk.AccessToken}}, m2mID, m2mSecret); r.code != http.StatusOK {
					t.Fatalf("revoke: %s", r)
				}
				if en.active(tk.AccessToken) {
					t.Fatal("revoked token still active")
				}
			})
		}
	})
}

// TestDiscovery: the OpenID Provider Metadata, against testdata/discovery.json
// (go test -run TestDiscovery -update rewrites it); every advertised endpoint is routed.
func TestDiscovery(t *testing.T) {
	en := newEnv(t, "sqlite")
	r := en.get(access.PathDiscovery, nil)
	if r.code != http.StatusOK || r.header.Get("Cache-Control") != "public, max-age=300" ||
		!strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("got %s (%v)", r, r.header)
	}
	var got bytes.Buffer
	if err := json.Indent(&got, bytes.TrimSpace(r.body), "", "  "); err != nil {
		t.Fatal(err)
	}
	got.WriteByte('\n')
	golden := filepath.Join("testdata", "discovery.json")
	if *update {
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != string(want) {
		t.Fatalf("discovery document differs from %s (run with -update if the change is meant):\n%s", golden, got.String())
	}

	// What must survive an -update: only the code flow, PKCE with S256 only, no
	// unsigned or symmetric ID tokens, introspection callers by client_secret_basic only.
	var meta struct {
		Issuer        string   `json:"issuer"`
		ResponseTypes []string `json:"response_types_supported"`
		Grants        []string `json:"grant_types_supported"`
		PKCE          []string `json:"code_challenge_methods_supported"`
		IDTokenAlgs   []string `json:"id_token_signing_alg_values_supported"`
		Introspection []string `json:"introspection_endpoint_auth_methods_supported"`
		// Relying parties decide from these whether to register for back-channel logout.
		Backchannel        bool `json:"backchannel_logout_supported"`
		BackchannelSession bool `json:"backchannel_logout_session_supported"`
	}
	if err := json.Unmarshal(r.body, &meta); err != nil {
		t.Fatal(err)
	}
	if meta.Issuer != issuer || !slices.Equal(meta.ResponseTypes, []string{"code"}) || !slices.Equal(meta.PKCE, []string{"S256"}) ||
		slices.Contains(meta.Grants, "password") || slices.Contains(meta.Grants, "implicit") ||
		slices.ContainsFunc(meta.IDTokenAlgs, func(a string) bool { return a == "none" || strings.HasPrefix(a, "HS") }) ||
		!slices.Equal(meta.Introspection, []string{"client_secret_basic"}) || !meta.Backchannel || !meta.BackchannelSession {
		t.Fatalf("metadata %+v", meta)
	}

	var doc map[string]any
	_ = json.Unmarshal(r.body, &doc)
	for _, name := range []string{"authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
		"introspection_endpoint", "revocation_endpoint", "end_session_endpoint"} {
		u, _ := url.Parse(doc[name].(string))
		if u.Scheme+"://"+u.Host != issuer {
			t.Errorf("%s = %s, not under the issuer", name, u)
		}
		method := http.MethodGet
		if name == "token_endpoint" || name == "introspection_endpoint" || name == "revocation_endpoint" {
			method = http.MethodPost
		}
		if !routed(en, method, u.Path) {
			t.Errorf("%s %s is not served", method, u.Path)
		}
	}
}

func routed(en *env, method, path string) bool {
	for _, rt := range en.e.Routes() {
		if rt.Method == method && rt.Path == path {
			return true
		}
	}
	return false
}

// TestJWKS: the published key set holds the public half of the key that signs ID
// tokens, and nothing private.
func TestJWKS(t *testing.T) {
	en := newEnv(t, "sqlite")
	_, _, tk := en.signIn()
	r := en.get(access.PathJWKS, nil)
	if r.code != http.StatusOK || r.header.Get("Content-Type") != "application/jwk-set+json" || r.header.Get("Cache-Control") != "public, max-age=300" {
		t.Fatalf("got %s (%v)", r, r.header)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(r.body, &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("JWKS %s: %v", r.body, err)
	}
	var raw struct{ Keys []map[string]any }
	_ = json.Unmarshal(r.body, &raw)
	for i, k := range set.Keys {
		if !k.IsPublic() || !k.Valid() || k.Use != "sig" || k.KeyID == "" || k.Algorithm != "ES256" {
			t.Errorf("key %q: %+v", k.KeyID, k)
		}
		if _, ok := raw.Keys[i]["d"]; ok {
			t.Errorf("key %q publishes its private part", k.KeyID)
		}
	}
	var hdr struct{ Kid, Alg string }
	b, _ := base64.RawURLEncoding.DecodeString(strings.Split(tk.IDToken, ".")[0])
	if err := json.Unmarshal(b, &hdr); err != nil || hdr.Alg != "ES256" || len(set.Key(hdr.Kid)) != 1 {
		t.Fatalf("ID token header %s: its key is not published", b)
	}
}

// RFC 6749 section 5.2: a client that authenticated with HTTP Basic and is refused with
// 401 gets the Basic challenge, at the token and the revocation endpoint; a client that
// sent its credentials in the form does not (it did not use the scheme).
func TestClientAuthentication_BasicChallenge(t *testing.T) {
	en := newEnv(t, "sqlite")
	for _, tc := range []struct {
		name, path string
		form       url.Values
		id, secret string
		want       string
	}{
		{"token, wrong secret", access.PathToken, url.Values{"grant_type": {"client_credentials"}}, m2mID, "wrong", `Basic realm="weft"`},
		{"token, unknown client", access.PathToken, url.Values{"grant_type": {"client_credentials"}}, "nobody", "x", `Basic realm="weft"`},
		{"revoke, wrong secret", access.PathRevoke, url.Values{"token": {"x"}}, webID, "wrong", `Basic realm="weft"`},
		{"token, secret in the form", access.PathToken, url.Values{"grant_type": {"client_credentials"},
			"client_id": {m2mID}, "client_secret": {"wrong"}}, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := en.at(t).form(tc.path, tc.form, tc.id, tc.secret)
			if r.code != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") != tc.want || r.json()["error"] != "invalid_client" {
				t.Fatalf("got %s (WWW-Authenticate %q), want 401 invalid_client with %q", r, r.header.Get("WWW-Authenticate"), tc.want)
			}
		})
	}
}
