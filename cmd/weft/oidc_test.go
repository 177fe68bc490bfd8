package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// oidcEnv is a running weft with the example fabric applied, seen by real relying-party
// libraries (golang.org/x/oauth2 and go-oidc).
type oidcEnv struct {
	cli      *cliEnv
	srv      *server
	t        *testing.T
	issuer   string
	provider *oidc.Provider
	web      oauth2.Config
}

func newOIDCEnv(t *testing.T, b sqltest.Backend) *oidcEnv {
	t.Helper()
	return newOIDCEnvWith(t, b, "")
}

// newOIDCEnvWith also applies extra, a fabric document, after the example.
func newOIDCEnvWith(t *testing.T, b sqltest.Backend, extra string, environ ...string) *oidcEnv {
	t.Helper()
	e := newCLIEnv(t, b)
	addr := closedPort(t)
	issuer := "http://" + addr
	e.environ = append(e.environ, "WEFT_ISSUER="+issuer, "WEFT_KEY_ENCRYPTION_KEY="+testKEK)
	e.environ = append(e.environ, environ...)
	e.ok("", "apply", "-f", exampleFabric)
	if extra != "" {
		e.ok(extra, "apply", "-f", "-")
	}
	srv := startServerAt(t, e.environ, addr)
	ctx := context.Background()
	p, err := oidc.NewProvider(ctx, issuer) // discovery; checks the issuer matches exactly
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	ep := p.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInHeader // client_secret_basic, as demo-web is registered
	return &oidcEnv{cli: e, srv: srv, t: t, issuer: issuer, provider: p, web: oauth2.Config{
		ClientID: "demo-web", ClientSecret: "demo-web-secret", Endpoint: ep,
		RedirectURL: "http://127.0.0.1:9555/callback",
		Scopes:      []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess},
	}}
}

// browser is a cookie-keeping HTTP client that stops at redirects to the relying party.
func (o *oidcEnv) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), o.issuer) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
var nextField = regexp.MustCompile(`name="next" value="([^"]+)"`)

func formFields(t *testing.T, body string) (csrf, next string) {
	t.Helper()
	m1, m2 := csrfField.FindStringSubmatch(body), nextField.FindStringSubmatch(body)
	if m1 == nil || m2 == nil {
		t.Fatalf("no csrf/next fields in page:\n%s", body)
	}
	return m1[1], htmlUnescape(m2[1])
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">").Replace(s)
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// login runs the browser from the authorization URL through the login (and consent)
// pages and returns the final redirect to the relying party.
func (o *oidcEnv) login(b *http.Client, authURL, username, pw string) *url.URL {
	t := o.t
	t.Helper()
	resp, err := b.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		if resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusSeeOther {
			loc, _ := resp.Location()
			resp.Body.Close()
			return loc // at the relying party
		}
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("page %s: %d\n%s", resp.Request.URL, resp.StatusCode, body)
		}
		csrf, next := formFields(t, body)
		switch resp.Request.URL.Path {
		case "/login":
			resp, err = b.PostForm(o.issuer+"/login", url.Values{"csrf_token": {csrf}, "next": {next}, "username": {username}, "password": {pw}})
		case "/consent":
			resp, err = b.PostForm(o.issuer+"/consent", url.Values{"csrf_token": {csrf}, "next": {next}, "decision": {"allow"}})
		default:
			t.Fatalf("unexpected page %s", resp.Request.URL)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("no redirect to the relying party")
	return nil
}

func randomString() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// introspect calls /oauth2/introspect as the demo gateway.
func (o *oidcEnv) introspect(token, id, secret string) (int, map[string]any) {
	o.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, o.issuer+"/oauth2/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(id, secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		o.t.Fatal(err)
	}
	var out map[string]any
	_ = json.Unmarshal([]byte(readAll(o.t, resp)), &out)
	return resp.StatusCode, out
}

func (o *oidcEnv) active(token string) bool {
	code, body := o.introspect(token, "demo-gateway", "demo-gateway-secret")
	if code != 200 {
		o.t.Fatalf("introspection = %d %v", code, body)
	}
	return body["active"] == true
}

func TestOIDC_EndToEnd(t *testing.T) {
	for _, b := range sqltest.Backends {
		t.Run(string(b), func(t *testing.T) {
			o := newOIDCEnv(t, b)
			ctx := context.Background()

			// Authorization code flow with PKCE, through the login and consent pages.
			verifier := oauth2.GenerateVerifier()
			state, nonce := randomString(), randomString()
			authURL := o.web.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce))
			cb := o.login(o.browser(), authURL, "alice", "alice-demo-password-1")
			if cb.Host != "127.0.0.1:9555" || cb.Query().Get("state") != state || cb.Query().Get("code") == "" {
				t.Fatalf("callback = %s", cb)
			}
			tok, err := o.web.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("code exchange: %v", err)
			}
			rawID, _ := tok.Extra("id_token").(string)
			idt, err := o.provider.Verifier(&oidc.Config{ClientID: "demo-web"}).Verify(ctx, rawID)
			if err != nil {
				t.Fatalf("ID token does not verify against JWKS: %v", err)
			}
			var claims struct {
				Nonce, Sid, Email, Name, Acr string
				Amr                          []string
				AuthTime                     int64 `json:"auth_time"`
			}
			if err := idt.Claims(&claims); err != nil {
				t.Fatal(err)
			}
			if claims.Nonce != nonce || claims.Sid == "" || claims.Email != "alice@example.com" || claims.AuthTime == 0 ||
				claims.Acr != "http://idmanagement.gov/ns/assurance/aal/1" || len(claims.Amr) != 1 || claims.Amr[0] != "pwd" {
				t.Fatalf("ID token claims = %+v", claims)
			}
			ui, err := o.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
			if err != nil || ui.Subject != idt.Subject || ui.Email != "alice@example.com" {
				t.Fatalf("userinfo = %+v, %v", ui, err)
			}
			if _, err := o.provider.UserInfo(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok.RefreshToken})); err == nil {
				t.Fatal("userinfo accepted a refresh token as a bearer token")
			}
			if _, body := o.introspect(tok.AccessToken, "demo-gateway", "demo-gateway-secret"); body["sid"] != claims.Sid ||
				body["sub"] != idt.Subject || body["client_id"] != "demo-web" || body["username"] != "alice" {
				t.Fatalf("introspection = %v", body)
			}

			// Refresh rotates; the rotated-out refresh token is refused and its reuse
			// revokes the family.
			old := tok.RefreshToken
			expired := *tok
			expired.Expiry = expired.Expiry.Add(-24 * 3600 * 1e9)
			fresh, err := o.web.TokenSource(ctx, &expired).Token()
			if err != nil || fresh.RefreshToken == "" || fresh.RefreshToken == old {
				t.Fatalf("refresh = %+v, %v", fresh, err)
			}
			reuse := &oauth2.Token{RefreshToken: old}
			reuse.Expiry = expired.Expiry
			if _, err := o.web.TokenSource(ctx, reuse).Token(); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
				t.Fatalf("reusing a rotated refresh token = %v, want invalid_grant", err)
			}
			if o.active(fresh.AccessToken) {
				t.Fatal("refresh-token reuse did not revoke the family's access token")
			}
			if !strings.Contains(o.srv.log.String(), `"security_event":"refresh_token_reuse"`) {
				t.Fatal("refresh-token reuse was not logged as a security event")
			}

			// client_credentials, introspection and revocation.
			m2m := clientcredentials.Config{ClientID: "demo-m2m", ClientSecret: "demo-m2m-secret", TokenURL: o.provider.Endpoint().TokenURL, Scopes: []string{"api.read"}}
			mt, err := m2m.Token(ctx)
			if err != nil {
				t.Fatalf("client_credentials: %v", err)
			}
			if code, body := o.introspect(mt.AccessToken, "demo-gateway", "demo-gateway-secret"); code != 200 || body["active"] != true ||
				body["client_id"] != "demo-m2m" || body["scope"] != "api.read" || body["sub"] != o.machineID(t, "ci-runner") {
				t.Fatalf("introspect m2m = %d %v", code, body)
			}
			form := url.Values{"token": {mt.AccessToken}}
			req, _ := http.NewRequest(http.MethodPost, o.issuer+"/oauth2/revoke", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("demo-m2m", "demo-m2m-secret")
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("revoke = %v, %v", resp, err)
			}
			resp.Body.Close()
			if o.active(mt.AccessToken) {
				t.Fatal("revoked token still active")
			}
		})
	}
}

// TestOIDC_LoginPageRefusals: what the login page (ui) refuses, through a real browser
// session. The refusals of the OAuth endpoints themselves are table tests in
// access/oauth (TestAuthorize_Refused, TestToken_Refused, TestToken_CodeReplay,
// TestToken_ConcurrentRedemption, TestIntrospect_CallerAuthentication, ...).
func TestOIDC_LoginPageRefusals(t *testing.T) {
	o := newOIDCEnv(t, sqltest.SQLite)

	t.Run("login_hint prefills the username", func(t *testing.T) {
		resp, err := o.browser().Get(o.web.AuthCodeURL(randomString(), oauth2.S256ChallengeOption(oauth2.GenerateVerifier()),
			oauth2.SetAuthURLParam("login_hint", "bob")))
		if err != nil {
			t.Fatal(err)
		}
		if body := readAll(t, resp); !strings.Contains(body, `name="username" type="text"`) || !strings.Contains(body, `value="bob"`) {
			t.Fatalf("login page ignores login_hint:\n%s", body)
		}
	})
	t.Run("login without CSRF token", func(t *testing.T) {
		b := o.browser()
		resp, err := b.Get(o.web.AuthCodeURL(randomString(), oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		if err != nil {
			t.Fatal(err)
		}
		_, next := formFields(t, readAll(t, resp))
		for _, csrf := range []string{"", "forged-token-forged-token-forged-token"} {
			resp, err = b.PostForm(o.issuer+"/login", url.Values{"csrf_token": {csrf}, "next": {next}, "username": {"alice"}, "password": {"alice-demo-password-1"}})
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp)
			if resp.StatusCode != 403 || strings.Contains(fmt.Sprint(resp.Header["Set-Cookie"]), "weft_session") {
				t.Fatalf("csrf %q: %d %s", csrf, resp.StatusCode, body)
			}
		}
	})
	t.Run("wrong password shows one generic message", func(t *testing.T) {
		for _, user := range []string{"alice", "nobody-at-all"} {
			b := o.browser()
			resp, _ := b.Get(o.web.AuthCodeURL(randomString(), oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
			csrf, next := formFields(t, readAll(t, resp))
			resp, _ = b.PostForm(o.issuer+"/login", url.Values{"csrf_token": {csrf}, "next": {next}, "username": {user}, "password": {"wrong-password-123"}})
			body := readAll(t, resp)
			if resp.StatusCode != 401 || !strings.Contains(body, "The username or password is incorrect.") {
				t.Fatalf("%s: %d %s", user, resp.StatusCode, body)
			}
		}
	})
}

// TestOIDC_KeyRotation: a token signed before `weft keys rotate` still verifies; tokens
// issued after it carry the new kid.
func TestOIDC_KeyRotation(t *testing.T) {
	e := newCLIEnv(t, sqltest.SQLite)
	addr := closedPort(t)
	issuer := "http://" + addr
	e.environ = append(e.environ, "WEFT_ISSUER="+issuer, "WEFT_SIGNING_KEYS_REFRESH=1s")
	e.ok("", "apply", "-f", exampleFabric)
	startServerAt(t, e.environ, addr)
	ctx := context.Background()
	p, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatal(err)
	}
	o := &oidcEnv{t: t, issuer: issuer, provider: p, web: oauth2.Config{ClientID: "demo-web", ClientSecret: "demo-web-secret",
		Endpoint:    oauth2.Endpoint{AuthURL: p.Endpoint().AuthURL, TokenURL: p.Endpoint().TokenURL, AuthStyle: oauth2.AuthStyleInHeader},
		RedirectURL: "http://127.0.0.1:9555/callback", Scopes: []string{oidc.ScopeOpenID}}}
	browser := o.browser() // signed in once; later authorizations reuse the session
	idToken := func() (string, string) {
		v := oauth2.GenerateVerifier()
		cb := o.login(browser, o.web.AuthCodeURL(randomString(), oauth2.S256ChallengeOption(v)), "alice", "alice-demo-password-1")
		tok, err := o.web.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(v))
		if err != nil {
			t.Fatal(err)
		}
		raw := tok.Extra("id_token").(string)
		var hdr struct{ Kid string }
		b, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
		_ = json.Unmarshal(b, &hdr)
		return raw, hdr.Kid
	}
	before, kidBefore := idToken()
	out := e.ok("", "keys", "rotate", "-o", "json")
	var rot struct{ Current, Retired struct{ KID string } }
	if err := json.Unmarshal([]byte(out), &rot); err != nil || rot.Retired.KID != kidBefore || rot.Current.KID == kidBefore {
		t.Fatalf("rotate output %s (kid before %s): %v", out, kidBefore, err)
	}
	verifier := p.Verifier(&oidc.Config{ClientID: "demo-web"})
	if _, err := verifier.Verify(ctx, before); err != nil {
		t.Fatalf("token signed before the rotation no longer verifies: %v", err)
	}
	var kidAfter string
	for i := 0; i < 50 && kidAfter != rot.Current.KID; i++ { // the server reloads keys every second
		time.Sleep(100 * time.Millisecond)
		_, kidAfter = idToken()
	}
	if kidAfter != rot.Current.KID {
		t.Fatalf("new tokens use kid %q, want the rotated-in %q", kidAfter, rot.Current.KID)
	}
	after, _ := idToken()
	if _, err := oidc.NewRemoteKeySet(ctx, issuer+"/.well-known/jwks.json").VerifySignature(ctx, after); err != nil {
		t.Fatalf("token signed after the rotation does not verify: %v", err)
	}
	if _, err := verifier.Verify(ctx, before); err != nil {
		t.Fatalf("old token stops verifying: %v", err)
	}
}

// TestOIDC_Logout: RP-initiated logout through a real browser ends the session and its
// tokens, and never logs out silently without a valid id_token_hint. Its refusals
// (forged hints, unregistered post-logout URIs) are table tests in access/oauth
// (TestLogout_Refused).
func TestOIDC_Logout(t *testing.T) {
	o := newOIDCEnv(t, sqltest.SQLite)
	ctx := context.Background()
	b := o.browser()
	v := oauth2.GenerateVerifier()
	cb := o.login(b, o.web.AuthCodeURL(randomString(), oauth2.S256ChallengeOption(v)), "alice", "alice-demo-password-1")
	tok, err := o.web.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	hint := tok.Extra("id_token").(string)
	end := func(q url.Values) *http.Response {
		resp, err := b.Get(o.issuer + "/oauth2/logout?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	// Without a hint, the user is asked first (the ui's page) and nothing happens yet.
	resp := end(url.Values{})
	if body := readAll(t, resp); resp.StatusCode != 200 || !strings.Contains(body, "Sign out of Weft") {
		t.Fatalf("logout without hint = %d %s", resp.StatusCode, body)
	}
	if !o.active(tok.AccessToken) {
		t.Fatal("a logout without a hint or confirmation ended the session")
	}
	resp = end(url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {"http://127.0.0.1:9555/"}, "state": {"xyz"}})
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != 302 || loc != "http://127.0.0.1:9555/?state=xyz" {
		t.Fatalf("logout = %d %q", resp.StatusCode, loc)
	}
	if o.active(tok.AccessToken) {
		t.Fatal("tokens of the ended session are still active")
	}
	// The browser must sign in again.
	resp, err = b.Get(o.web.AuthCodeURL(randomString(), oauth2.S256ChallengeOption(v)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/login" {
		t.Fatalf("after logout the authorization went to %s", resp.Request.URL)
	}
}

// TestOIDC_ConsentRememberedAndWithdrawn: the consent page is shown once per user and
// client, skipped afterwards, and shown again after the consent is withdrawn.
func TestOIDC_ConsentRememberedAndWithdrawn(t *testing.T) {
	e := newCLIEnv(t, sqltest.SQLite)
	addr := closedPort(t)
	issuer := "http://" + addr
	e.environ = append(e.environ, "WEFT_ISSUER="+issuer)
	e.ok("", "apply", "-f", exampleFabric)
	startServerAt(t, e.environ, addr)
	p, err := oidc.NewProvider(context.Background(), issuer)
	if err != nil {
		t.Fatal(err)
	}
	o := &oidcEnv{t: t, issuer: issuer, provider: p, web: oauth2.Config{ClientID: "demo-web", Endpoint: p.Endpoint(),
		RedirectURL: "http://127.0.0.1:9555/callback", Scopes: []string{oidc.ScopeOpenID, "email"}}}
	// pages signs in with a fresh browser and returns the pages it was shown.
	pages := func() []string {
		b := o.browser()
		resp, err := b.Get(o.web.AuthCodeURL(randomString(), oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		if err != nil {
			t.Fatal(err)
		}
		var seen []string
		for resp.StatusCode == 200 {
			body := readAll(t, resp)
			path := resp.Request.URL.Path
			seen = append(seen, path)
			csrf, next := formFields(t, body)
			form := url.Values{"csrf_token": {csrf}, "next": {next}, "username": {"alice"}, "password": {"alice-demo-password-1"}, "decision": {"allow"}}
			if resp, err = b.PostForm(issuer+path, form); err != nil {
				t.Fatal(err)
			}
			if len(seen) > 3 {
				t.Fatalf("too many pages: %v", seen)
			}
		}
		resp.Body.Close()
		if loc, _ := resp.Location(); loc == nil || loc.Query().Get("code") == "" {
			t.Fatalf("no code after %v: %d %v", seen, resp.StatusCode, loc)
		}
		return seen
	}
	if got := strings.Join(pages(), ","); got != "/login,/consent" {
		t.Fatalf("first sign-in pages = %s", got)
	}
	if got := strings.Join(pages(), ","); got != "/login" {
		t.Fatalf("consent was not remembered: %s", got)
	}
	e.ok("", "user", "revoke-consent", "alice", "demo-web")
	if got := strings.Join(pages(), ","); got != "/login,/consent" {
		t.Fatalf("after withdrawal: %s", got)
	}
}

// TestOIDC_TwoNodesShareNothingLocal: two servers on one PostgreSQL database act as one
// provider: a user signs in on node A, the code is redeemed on node B, and each node
// introspects, refreshes and revokes what the other issued.
//
// With Redis, each node caches token lookups and the shared revocation generation keeps
// them honest; without it, lookups go to the database. Both must give the same answers.
func TestOIDC_TwoNodesShareNothingLocal(t *testing.T) {
	for _, withRedis := range []bool{false, true} {
		name := "postgres only"
		if withRedis {
			name = "postgres and redis"
		}
		t.Run(name, func(t *testing.T) { testTwoNodes(t, withRedis) })
	}
}

func testTwoNodes(t *testing.T, withRedis bool) {
	e := newCLIEnv(t, sqltest.Postgres)
	addrA, addrB := closedPort(t), closedPort(t)
	issuer := "http://" + addrA // both nodes serve the same issuer, as behind a load balancer
	e.environ = append(e.environ, "WEFT_ISSUER="+issuer, "WEFT_KEY_ENCRYPTION_KEY="+testKEK)
	if withRedis {
		e.environ = append(e.environ, "WEFT_REDIS_URL="+redisURL(t), "WEFT_REDIS_PREFIX=weft-test:"+randomString()+":")
	}
	e.ok("", "apply", "-f", exampleFabric)
	startServerAt(t, e.environ, addrA)
	startServerAt(t, e.environ, addrB)
	ctx := context.Background()
	p, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatal(err)
	}
	onB := func(u string) string { return strings.Replace(u, addrA, addrB, 1) }
	o := &oidcEnv{t: t, issuer: issuer, provider: p}
	web := oauth2.Config{ClientID: "demo-web", ClientSecret: "demo-web-secret",
		Endpoint:    oauth2.Endpoint{AuthURL: p.Endpoint().AuthURL, TokenURL: onB(p.Endpoint().TokenURL), AuthStyle: oauth2.AuthStyleInHeader},
		RedirectURL: "http://127.0.0.1:9555/callback", Scopes: []string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess}}
	o.web = web
	v := oauth2.GenerateVerifier()
	cb := o.login(o.browser(), web.AuthCodeURL(randomString(), oauth2.S256ChallengeOption(v)), "alice", "alice-demo-password-1")
	tok, err := web.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(v)) // on node B
	if err != nil {
		t.Fatalf("node B redeeming node A's code: %v", err)
	}
	if _, err := p.Verifier(&oidc.Config{ClientID: "demo-web"}).Verify(ctx, tok.Extra("id_token").(string)); err != nil {
		t.Fatalf("node B's ID token against the shared JWKS: %v", err)
	}
	for _, node := range []string{issuer, "http://" + addrB} {
		o.issuer = node
		if !o.active(tok.AccessToken) {
			t.Fatalf("%s does not know the token", node)
		}
	}
	// Refresh on node A, then revoke on node A: node B sees both at once, whether it
	// has no token cache or has just cached the token.
	web.Endpoint.TokenURL = p.Endpoint().TokenURL
	expired := *tok
	expired.Expiry = expired.Expiry.Add(-24 * time.Hour)
	fresh, err := web.TokenSource(ctx, &expired).Token()
	if err != nil {
		t.Fatalf("refresh on node A: %v", err)
	}
	o.issuer = "http://" + addrB
	if o.active(tok.AccessToken) || !o.active(fresh.AccessToken) {
		t.Fatal("node B does not reflect node A's refresh rotation")
	}
	req, _ := http.NewRequest(http.MethodPost, issuer+"/oauth2/revoke", strings.NewReader(url.Values{"token": {fresh.RefreshToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("demo-web", "demo-web-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("revoke on A: %v %v", resp, err)
	}
	resp.Body.Close()
	if o.active(fresh.AccessToken) {
		t.Fatal("node B still accepts a token whose grant node A revoked")
	}
}

// TestOIDC_JWTAccessTokens: a client registered with access_token_format: jwt gets
// RFC 9068 tokens (typ at+jwt, signed with the published keys, aud, client_id, jti) that
// introspection and revocation handle like opaque ones.
func TestOIDC_JWTAccessTokens(t *testing.T) {
	o := newOIDCEnvWith(t, sqltest.SQLite, `
clients:
  - id: jwt-api-client
    name: Service wanting JWT access tokens
    type: confidential
    secret: jwt-api-client-secret
    grant_types: [client_credentials]
    scopes: [api.read]
    access_token_format: jwt
`)
	ctx := context.Background()
	cc := clientcredentials.Config{ClientID: "jwt-api-client", ClientSecret: "jwt-api-client-secret",
		TokenURL: o.provider.Endpoint().TokenURL, Scopes: []string{"api.read"}}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok.AccessToken, ".")
	if len(parts) != 3 {
		t.Fatalf("access token is not a JWT: %q", tok.AccessToken)
	}
	var hdr struct{ Typ, Alg, Kid string }
	b, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if err := json.Unmarshal(b, &hdr); err != nil || hdr.Typ != "at+jwt" || hdr.Alg != "ES256" || hdr.Kid == "" {
		t.Fatalf("header = %s (%v)", b, err)
	}
	payload, err := oidc.NewRemoteKeySet(ctx, o.issuer+"/.well-known/jwks.json").VerifySignature(ctx, tok.AccessToken)
	if err != nil {
		t.Fatalf("JWT access token does not verify against JWKS: %v", err)
	}
	var c struct {
		Iss, Sub, ClientID, Jti, Scope string
		Aud                            []string
		Exp, Iat                       int64
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	if c.Iss != o.issuer || c.Sub != "jwt-api-client" || len(c.Aud) != 1 || c.Aud[0] != "jwt-api-client" || c.Jti == "" ||
		c.Scope != "api.read" || c.Exp <= c.Iat {
		t.Fatalf("claims = %s", payload)
	}
	if !o.active(tok.AccessToken) {
		t.Fatal("JWT access token not active at introspection")
	}
	req, _ := http.NewRequest(http.MethodPost, o.issuer+"/oauth2/revoke", strings.NewReader(url.Values{"token": {tok.AccessToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("jwt-api-client", "jwt-api-client-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("revoke: %v %v", resp, err)
	}
	resp.Body.Close()
	if o.active(tok.AccessToken) {
		t.Fatal("revoked JWT access token still active at introspection")
	}
	// Opaque stays the default.
	m2m, err := (&clientcredentials.Config{ClientID: "demo-m2m", ClientSecret: "demo-m2m-secret", TokenURL: o.provider.Endpoint().TokenURL}).Token(ctx)
	if err != nil || strings.Count(m2m.AccessToken, ".") != 1 {
		t.Fatalf("demo-m2m token = %q, %v", m2m.AccessToken, err)
	}
}

// TestOIDC_PerClientSettings: RS256 ID tokens for a client that asks for them, and a
// confidential client an administrator exempted from PKCE.
func TestOIDC_PerClientSettings(t *testing.T) {
	o := newOIDCEnvWith(t, sqltest.SQLite, `
clients:
  - id: rs-web
    name: Old relying party (RS256 only)
    type: confidential
    secret: rs-web-secret-123
    redirect_uris: [http://127.0.0.1:9555/callback]
    grant_types: [authorization_code]
    scopes: [openid]
    id_token_signed_response_alg: RS256
  - id: legacy-web
    name: Legacy app without PKCE
    type: confidential
    secret: legacy-web-secret
    redirect_uris: [http://127.0.0.1:9555/callback]
    grant_types: [authorization_code]
    scopes: [openid]
    pkce_required: false
`)
	ctx := context.Background()
	ep := oauth2.Endpoint{AuthURL: o.provider.Endpoint().AuthURL, TokenURL: o.provider.Endpoint().TokenURL, AuthStyle: oauth2.AuthStyleInHeader}
	b := o.browser()

	rs := oauth2.Config{ClientID: "rs-web", ClientSecret: "rs-web-secret-123", Endpoint: ep, RedirectURL: "http://127.0.0.1:9555/callback", Scopes: []string{"openid"}}
	o.web = rs
	v := oauth2.GenerateVerifier()
	cb := o.login(b, rs.AuthCodeURL(randomString(), oauth2.S256ChallengeOption(v)), "alice", "alice-demo-password-1")
	tok, err := rs.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	raw := tok.Extra("id_token").(string)
	var hdr struct{ Alg string }
	hb, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
	_ = json.Unmarshal(hb, &hdr)
	if hdr.Alg != "RS256" {
		t.Fatalf("rs-web ID token alg = %q", hdr.Alg)
	}
	if _, err := o.provider.Verifier(&oidc.Config{ClientID: "rs-web", SupportedSigningAlgs: []string{"RS256"}}).Verify(ctx, raw); err != nil {
		t.Fatalf("RS256 ID token does not verify: %v", err)
	}

	legacy := oauth2.Config{ClientID: "legacy-web", ClientSecret: "legacy-web-secret", Endpoint: ep, RedirectURL: "http://127.0.0.1:9555/callback", Scopes: []string{"openid"}}
	o.web = legacy
	cb = o.login(b, legacy.AuthCodeURL(randomString()), "alice", "alice-demo-password-1")
	if _, err := legacy.Exchange(ctx, cb.Query().Get("code")); err != nil {
		t.Fatalf("a client exempted from PKCE cannot redeem its code: %v", err)
	}
	// Exempt means optional, not weaker: plain is still refused.
	resp, err := b.Get(legacy.AuthCodeURL(randomString(), oauth2.SetAuthURLParam("code_challenge", strings.Repeat("a", 43)),
		oauth2.SetAuthURLParam("code_challenge_method", "plain")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc, _ := resp.Location(); loc == nil || loc.Query().Get("error") != "invalid_request" {
		t.Fatalf("plain PKCE for the exempt client: %d %v", resp.StatusCode, loc)
	}
}

// TestOIDC_FirstPartySkipsConsent: a first-party client goes from the login page
// straight to its callback.
func TestOIDC_FirstPartySkipsConsent(t *testing.T) {
	o := newOIDCEnvWith(t, sqltest.SQLite, `
clients:
  - id: intranet
    name: Company intranet
    type: confidential
    secret: intranet-secret-123
    redirect_uris: [http://127.0.0.1:9555/callback]
    grant_types: [authorization_code]
    scopes: [openid, email]
    first_party: true
`)
	cfg := oauth2.Config{ClientID: "intranet", Endpoint: o.provider.Endpoint(), RedirectURL: "http://127.0.0.1:9555/callback", Scopes: []string{"openid", "email"}}
	b := o.browser()
	resp, err := b.Get(cfg.AuthCodeURL(randomString(), oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if err != nil {
		t.Fatal(err)
	}
	csrf, next := formFields(t, readAll(t, resp))
	resp, err = b.PostForm(o.issuer+"/login", url.Values{"csrf_token": {csrf}, "next": {next}, "username": {"alice"}, "password": {"alice-demo-password-1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc, _ := resp.Location(); loc == nil || loc.Query().Get("code") == "" || resp.Request.URL.Path == "/consent" {
		t.Fatalf("first-party sign-in ended at %s (%d, location %v)", resp.Request.URL, resp.StatusCode, loc)
	}
}

// machineID looks a machine identity's id up through the CLI's JSON output.
func (o *oidcEnv) machineID(t *testing.T, name string) string {
	t.Helper()
	var out struct {
		Items []struct{ ID, Name string } `json:"machine_identities"`
	}
	if err := json.Unmarshal([]byte(o.cli.ok("", "machine", "list", "-o", "json")), &out); err != nil {
		t.Fatal(err)
	}
	for _, m := range out.Items {
		if m.Name == name {
			return m.ID
		}
	}
	t.Fatalf("no machine identity %q", name)
	return ""
}
