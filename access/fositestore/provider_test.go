package fositestore_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/token/jwt"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/fositestore"
	"github.com/weft-fabric/weft/access/fositestore/storetest"
	"github.com/weft-fabric/weft/identity/password"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// These tests run fosite itself over the store: the storage contract as fosite's
// handlers exercise it, not as we read it.

const issuer = "https://weft.test"

// phcHasher checks client secrets against their argon2id PHC hashes.
type phcHasher struct{}

func (phcHasher) Compare(_ context.Context, hash, secret []byte) error {
	return password.Verify(string(secret), string(hash))
}

func (phcHasher) Hash(context.Context, []byte) ([]byte, error) {
	return nil, errors.New("hashing is not needed here")
}

type env struct {
	p fosite.OAuth2Provider
	s *fositestore.Store
}

// newEnv composes fosite the way oauth.NewProvider does, plus the client
// authentication wrapper, over a store on backend b.
func newEnv(t *testing.T, b sqltest.Backend) *env {
	t.Helper()
	s := opener(b)(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	cfg := &fosite.Config{
		AccessTokenLifespan:         10 * time.Minute,
		RefreshTokenLifespan:        time.Hour,
		AuthorizeCodeLifespan:       time.Minute,
		IDTokenLifespan:             time.Hour,
		IDTokenIssuer:               issuer,
		AccessTokenIssuer:           issuer,
		TokenURL:                    issuer + "/oauth2/token",
		GlobalSecret:                secret,
		EnforcePKCE:                 true,
		EnforcePKCEForPublicClients: true,
		ScopeStrategy:               fosite.ExactScopeStrategy,
		AudienceMatchingStrategy:    fosite.DefaultAudienceMatchingStrategy,
		ClientSecretsHasher:         phcHasher{},
		RefreshTokenScopes:          []string{"offline_access"},
	}
	keyGetter := func(context.Context) (interface{}, error) { return key, nil }
	strategy := &compose.CommonStrategy{
		CoreStrategy:               compose.NewOAuth2HMACStrategy(cfg),
		OpenIDConnectTokenStrategy: compose.NewOpenIDConnectStrategy(keyGetter, cfg),
		Signer:                     &jwt.DefaultSigner{GetPrivateKey: keyGetter},
	}
	p := compose.Compose(cfg, s, strategy,
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2ClientCredentialsGrantFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OpenIDConnectExplicitFactory,
		compose.OpenIDConnectRefreshFactory,
		compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2TokenRevocationFactory,
		compose.OAuth2PKCEFactory,
	)
	f, ok := p.(*fosite.Fosite)
	if !ok {
		t.Fatalf("compose returned %T", p)
	}
	cfg.ClientAuthenticationStrategy = s.ClientAuthentication(f.DefaultClientAuthenticationStrategy)
	return &env{p: p, s: s}
}

func post(path string, form url.Values, basicID, basicSecret string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, issuer+path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		r.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
	}
	return r
}

// token runs a token request through fosite as access/token.go does.
func (e *env) token(form url.Values, basicID, basicSecret string) (fosite.AccessResponder, error) {
	ctx := context.Background()
	session := access.NewSession("", "", "")
	ar, err := e.p.NewAccessRequest(ctx, post("/oauth2/token", form, basicID, basicSecret), session)
	if err != nil {
		return nil, err
	}
	if ar.GetGrantTypes().ExactOne("client_credentials") {
		session.Subject, session.Claims.Subject = ar.GetClient().GetID(), ar.GetClient().GetID()
		for _, s := range ar.GetRequestedScopes() {
			ar.GrantScope(s)
		}
	}
	return e.p.NewAccessResponse(ctx, ar)
}

// introspect asks about token as the web client (which may introspect).
func (e *env) introspect(token string) (fosite.IntrospectionResponder, error) {
	r := post("/oauth2/introspect", url.Values{"token": {token}}, storetest.WebID, storetest.ClientSecret)
	return e.p.NewIntrospectionRequest(context.Background(), r, access.NewSession("", "", ""))
}

func (e *env) wantActive(t *testing.T, token, subject string) fosite.IntrospectionResponder {
	t.Helper()
	ir, err := e.introspect(token)
	if err != nil || !ir.IsActive() {
		t.Fatalf("introspection: %v; want an active token", err)
	}
	if got := ir.GetAccessRequester().GetSession().GetSubject(); got != subject {
		t.Fatalf("introspected subject = %q, want %q", got, subject)
	}
	return ir
}

func (e *env) wantInactive(t *testing.T, token string) {
	t.Helper()
	ir, err := e.introspect(token)
	if !errors.Is(err, fosite.ErrInactiveToken) || (ir != nil && ir.IsActive()) {
		t.Fatalf("introspection: %v; want an inactive token", err)
	}
}

func TestProvider_ClientCredentials(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b sqltest.Backend) {
		e := newEnv(t, b)
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}

		resp, err := e.token(form, storetest.MachineID, storetest.ClientSecret) // client_secret_basic
		if err != nil {
			t.Fatalf("client_credentials with client_secret_basic: %v", err)
		}
		basicToken := resp.GetAccessToken()
		ir := e.wantActive(t, basicToken, storetest.MachineID)
		if ir.GetTokenUse() != fosite.AccessToken || ir.GetAccessRequester().GetClient().GetID() != storetest.MachineID ||
			!ir.GetAccessRequester().GetGrantedScopes().Has("read") {
			t.Fatalf("introspection: use %s, client %s, scopes %v", ir.GetTokenUse(),
				ir.GetAccessRequester().GetClient().GetID(), ir.GetAccessRequester().GetGrantedScopes())
		}

		postForm := url.Values{"grant_type": {"client_credentials"}, "scope": {"read"},
			"client_id": {storetest.MachineID}, "client_secret": {storetest.ClientSecret}}
		resp, err = e.token(postForm, "", "") // client_secret_post
		if err != nil {
			t.Fatalf("client_credentials with client_secret_post: %v", err)
		}
		e.wantActive(t, resp.GetAccessToken(), storetest.MachineID)

		for _, tc := range []struct {
			name           string
			form           url.Values
			basicID, basic string
			want           error
		}{
			{"both methods", postForm, storetest.MachineID, storetest.ClientSecret, fosite.ErrInvalidClient},
			{"wrong secret", form, storetest.MachineID, "wrong-secret-value", fosite.ErrInvalidClient},
			{"unknown client", form, "nobody", storetest.ClientSecret, fosite.ErrInvalidClient},
			{"public client", url.Values{"grant_type": {"client_credentials"}, "client_id": {storetest.SPAID}}, "", "", fosite.ErrInvalidGrant},
			{"scope not allowed", url.Values{"grant_type": {"client_credentials"}, "scope": {"write"}}, storetest.MachineID, storetest.ClientSecret, fosite.ErrInvalidScope},
		} {
			if _, err := e.token(tc.form, tc.basicID, tc.basic); !errors.Is(err, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			}
		}

		n, err := e.s.RevokeByClient(context.Background(), storetest.MachineID)
		if err != nil || n != 2 {
			t.Fatalf("RevokeByClient = %d, %v; want 2", n, err)
		}
		e.wantInactive(t, basicToken)
	})
}

// authorize drives fosite's authorization endpoint for the public client with PKCE and
// returns the code and its verifier.
func (e *env) authorize(t *testing.T, sid string) (code, verifier string) {
	t.Helper()
	ctx := context.Background()
	v := make([]byte, 32)
	if _, err := rand.Read(v); err != nil {
		t.Fatal(err)
	}
	verifier = base64.RawURLEncoding.EncodeToString(v)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"response_type": {"code"}, "client_id": {storetest.SPAID}, "redirect_uri": {storetest.SPARedirect},
		"scope": {"openid offline_access read"}, "state": {"state-0123456789"}, "nonce": {"nonce-0123456789"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	r := httptest.NewRequest(http.MethodGet, issuer+"/oauth2/auth?"+q.Encode(), nil)
	ar, err := e.p.NewAuthorizeRequest(ctx, r)
	if err != nil {
		t.Fatalf("authorize request: %v", err)
	}
	for _, s := range ar.GetRequestedScopes() {
		ar.GrantScope(s)
	}
	session := access.NewSession("user-1", "alice", sid)
	session.Claims.AuthTime = time.Now().UTC().Add(-time.Minute)
	resp, err := e.p.NewAuthorizeResponse(ctx, ar, session)
	if err != nil {
		t.Fatalf("authorize response: %v", err)
	}
	if resp.GetCode() == "" {
		t.Fatal("no code issued")
	}
	return resp.GetCode(), verifier
}

func (e *env) redeem(code, verifier string) (fosite.AccessResponder, error) {
	return e.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {storetest.SPARedirect},
		"client_id": {storetest.SPAID}, "code_verifier": {verifier}}, "", "")
}

func (e *env) refresh(rt string) (fosite.AccessResponder, error) {
	return e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {storetest.SPAID}}, "", "")
}

// tokens returns a checker of a token response that yields its access and refresh
// token: tokens(t)(e.redeem(...)).
func tokens(t *testing.T) func(fosite.AccessResponder, error) (at, rt string) {
	return func(resp fosite.AccessResponder, err error) (string, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		rt, _ := resp.GetExtra("refresh_token").(string)
		if resp.GetAccessToken() == "" || rt == "" {
			t.Fatalf("response without access or refresh token: %v", resp.ToMap())
		}
		return resp.GetAccessToken(), rt
	}
}

func TestProvider_AuthorizationCodeFlow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b sqltest.Backend) {
		e := newEnv(t, b)

		// Code exchange, then a replay of the code: fosite revokes the grant.
		code, verifier := e.authorize(t, "sid-1")
		resp, err := e.redeem(code, verifier)
		at1, rt1 := tokens(t)(resp, err)
		if id, _ := resp.GetExtra("id_token").(string); id == "" {
			t.Fatal("no ID token")
		}
		ir := e.wantActive(t, at1, "user-1")
		if sid := ir.GetAccessRequester().GetSession().(*access.Session).SID; sid != "sid-1" {
			t.Fatalf("sid through introspection = %q, want sid-1", sid)
		}
		if _, err := e.redeem(code, verifier); !errors.Is(err, fosite.ErrInvalidGrant) {
			t.Fatalf("code replay: %v, want invalid_grant", err)
		}
		e.wantInactive(t, at1)
		if _, err := e.refresh(rt1); err == nil {
			t.Fatal("refresh token of a replayed code still works")
		}

		// Rotation, then reuse of the old refresh token: fosite revokes the family.
		code, verifier = e.authorize(t, "sid-1")
		at2, rt2 := tokens(t)(e.redeem(code, verifier))
		at3, rt3 := tokens(t)(e.refresh(rt2))
		e.wantInactive(t, at2)
		e.wantActive(t, at3, "user-1")
		if _, err := e.refresh(rt2); !errors.Is(err, fosite.ErrInvalidGrant) {
			t.Fatalf("refresh token reuse: %v, want invalid_grant", err)
		}
		e.wantInactive(t, at3)
		if _, err := e.refresh(rt3); err == nil {
			t.Fatal("refresh token of a revoked family still works")
		}

		// Ending the login session reaches the tokens issued in it.
		code, verifier = e.authorize(t, "sid-2")
		at4, rt4 := tokens(t)(e.redeem(code, verifier))
		n, err := e.s.RevokeBySessionID(context.Background(), "sid-2")
		if err != nil || n != 2 {
			t.Fatalf("RevokeBySessionID = %d, %v; want 2 (access and refresh token)", n, err)
		}
		e.wantInactive(t, at4)
		if _, err := e.refresh(rt4); err == nil {
			t.Fatal("refresh token of an ended login session still works")
		}
	})
}

// concurrently runs fn in 8 goroutines released at once and counts the successes.
func concurrently(fn func() error) (wins int, errs []error) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		start = make(chan struct{})
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			err := fn()
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				wins++
			} else {
				errs = append(errs, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	return wins, errs
}

func TestProvider_ConcurrentRedemption(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b sqltest.Backend) {
		e := newEnv(t, b)
		code, verifier := e.authorize(t, "sid-1")
		wins, errs := concurrently(func() error { _, err := e.redeem(code, verifier); return err })
		if wins != 1 {
			t.Fatalf("%d of 8 concurrent redemptions of one code succeeded; errors: %v", wins, errs)
		}
		for _, err := range errs {
			// Losers either saw the code used (invalid_grant, and fosite revoked the
			// grant) or lost the conditional UPDATE (fosite reports server_error).
			if !errors.Is(err, fosite.ErrInvalidGrant) && !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
				t.Errorf("loser: %v", err)
			}
		}

		code, verifier = e.authorize(t, "sid-1")
		_, rt := tokens(t)(e.redeem(code, verifier))
		wins, errs = concurrently(func() error { _, err := e.refresh(rt); return err })
		if wins != 1 {
			t.Fatalf("%d of 8 concurrent refreshes with one token succeeded; errors: %v", wins, errs)
		}
		for _, err := range errs {
			// Reuse detected on read (invalid_grant), or the rotation lost the race
			// (invalid_request wrapping ErrInactiveToken).
			if !errors.Is(err, fosite.ErrInvalidGrant) && !errors.Is(err, fosite.ErrInactiveToken) {
				t.Errorf("loser: %v", err)
			}
		}
	})
}
