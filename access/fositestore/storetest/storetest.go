// Package storetest is the conformance suite of access/fositestore: fosite's storage
// contract (what its handlers and storage/memory.go expect), Weft's additions
// (revocation by session, client and subject; garbage collection) and the concurrency
// guarantees of code redemption and refresh rotation. Each backend's test calls Run and
// RunConcurrency with a function that opens a fresh, migrated store whose client store
// holds Clients().
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/fositestore"
)

// The fixture clients. SecretHash is an argon2id hash of ClientSecret (cheap parameters).
const (
	ClientSecret = "storetest-client-secret"
	SecretHash   = "$argon2id$v=19$m=8192,t=1,p=1$ZuUNPzehiwD+f4fi1eRxXA$FId9kubB1yftU0tn4+LVFW2LMuCg9JYajEHPZ3I0DQ8"

	WebID     = "st-web"     // confidential; code, refresh, client_credentials; may introspect
	MachineID = "st-machine" // confidential; client_credentials only
	SPAID     = "st-spa"     // public; code and refresh

	WebRedirect = "https://rp.example/callback"
	SPARedirect = "http://127.0.0.1:8765/callback"
)

// Clients returns the clients the suites expect in the store's client store.
func Clients() []access.Client {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return []access.Client{
		{ID: WebID, Name: "Web app", Type: access.Confidential, SecretHash: SecretHash,
			RedirectURIs: []string{WebRedirect},
			GrantTypes:   []string{access.GrantAuthorizationCode, access.GrantRefreshToken, access.GrantClientCredentials},
			Scopes:       []string{"openid", "offline_access", "read", "write"}, Introspection: true,
			PostLogoutRedirectURIs: []string{}, CreatedAt: now, UpdatedAt: now},
		{ID: MachineID, Name: "Batch job", Type: access.Confidential, SecretHash: SecretHash,
			RedirectURIs: []string{}, GrantTypes: []string{access.GrantClientCredentials}, Scopes: []string{"read"},
			PostLogoutRedirectURIs: []string{}, CreatedAt: now, UpdatedAt: now},
		{ID: SPAID, Name: "Single-page app", Type: access.Public,
			RedirectURIs:           []string{SPARedirect},
			GrantTypes:             []string{access.GrantAuthorizationCode, access.GrantRefreshToken},
			Scopes:                 []string{"openid", "offline_access", "read"},
			PostLogoutRedirectURIs: []string{}, CreatedAt: now, UpdatedAt: now},
	}
}

type test struct {
	name string
	fn   func(t *testing.T, s *fositestore.Store)
}

func run(t *testing.T, open func(t *testing.T) *fositestore.Store, tests []test) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// Run checks the storage contract, each test on a store of its own.
func Run(t *testing.T, open func(t *testing.T) *fositestore.Store) {
	run(t, open, []test{
		{"GetClient", testGetClient},
		{"ClientAuthenticationMethod", testClientAuthenticationMethod},
		{"AuthorizeCode", testAuthorizeCode},
		{"AccessToken", testAccessToken},
		{"RefreshToken", testRefreshToken},
		{"RotateRefreshToken", testRotateRefreshToken},
		{"RevokeByRequestID", testRevokeByRequestID},
		{"PKCE", testPKCE},
		{"OpenIDConnectSession", testOpenIDConnectSession},
		{"CreateErrors", testCreateErrors},
		{"SessionID", testSessionID},
		{"RevokeBySessionClientSubject", testRevokeBy},
		{"ClientAssertionJTI", testJTI},
		{"DeleteExpired", testDeleteExpired},
		{"Transactional", testTransactional},
	})
}

// RunConcurrency checks that concurrent redemptions of one code, rotations of one
// refresh token and uses of one client-assertion jti have exactly one winner.
func RunConcurrency(t *testing.T, open func(t *testing.T) *fositestore.Store) {
	run(t, open, []test{
		{"AuthorizeCodeRedemption", testConcurrentCodeRedemption},
		{"RefreshRotation", testConcurrentRefreshRotation},
		{"ClientAssertionJTI", testConcurrentJTI},
	})
}

// --- fixtures ---------------------------------------------------------------------

func random(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b)
}

func getClient(t *testing.T, s *fositestore.Store, id string) fosite.Client {
	t.Helper()
	c, err := s.GetClient(context.Background(), id)
	if err != nil {
		t.Fatalf("GetClient(%q): %v", id, err)
	}
	return c
}

// newSession is a session with claims, extra values and an expiry per token type.
func newSession(subject string, exp time.Time) *openid.DefaultSession {
	return &openid.DefaultSession{
		Claims: &jwt.IDTokenClaims{
			Subject:  subject,
			Issuer:   "https://weft.test",
			AuthTime: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC),
			Extra:    map[string]interface{}{"email": subject + "@example.com", "groups": []interface{}{"a", "b"}},
		},
		Headers:  &jwt.Headers{Extra: map[string]interface{}{"kid": "k1"}},
		Subject:  subject,
		Username: "name-of-" + subject,
		ExpiresAt: map[fosite.TokenType]time.Time{
			fosite.AuthorizeCode: exp,
			fosite.AccessToken:   exp.Add(time.Minute),
			fosite.RefreshToken:  exp.Add(time.Hour),
		},
	}
}

func newRequest(t *testing.T, s *fositestore.Store, clientID string, session fosite.Session) *fosite.Request {
	t.Helper()
	r := fosite.NewRequest()
	r.ID = random(t, "req-")
	r.RequestedAt = time.Now().UTC().Add(-time.Second).Truncate(time.Microsecond)
	r.Client = getClient(t, s, clientID)
	r.RequestedScope = fosite.Arguments{"openid", "read"}
	r.GrantedScope = fosite.Arguments{"openid"}
	r.RequestedAudience = fosite.Arguments{"https://api.example"}
	r.GrantedAudience = fosite.Arguments{"https://api.example"}
	r.Form = url.Values{"redirect_uri": {WebRedirect}, "scope": {"openid read"}}
	r.Session = session
	return r
}

func userRequest(t *testing.T, s *fositestore.Store, subject string) *fosite.Request {
	t.Helper()
	return newRequest(t, s, WebID, newSession(subject, time.Now().Add(time.Minute)))
}

func fresh() *openid.DefaultSession { return openid.NewDefaultSession() }

// sameRequest compares everything storage must keep.
func sameRequest(t *testing.T, got fosite.Requester, want *fosite.Request) {
	t.Helper()
	if got == nil {
		t.Fatal("got no request")
	}
	if got.GetID() != want.ID {
		t.Errorf("request ID = %q, want %q", got.GetID(), want.ID)
	}
	if got.GetClient() == nil || got.GetClient().GetID() != want.Client.GetID() {
		t.Errorf("client = %v, want %q", got.GetClient(), want.Client.GetID())
	}
	if !got.GetRequestedAt().Equal(want.RequestedAt) {
		t.Errorf("requested at = %v, want %v", got.GetRequestedAt(), want.RequestedAt)
	}
	for _, f := range []struct {
		name      string
		got, want fosite.Arguments
	}{
		{"requested scopes", got.GetRequestedScopes(), want.RequestedScope},
		{"granted scopes", got.GetGrantedScopes(), want.GrantedScope},
		{"requested audience", got.GetRequestedAudience(), want.RequestedAudience},
		{"granted audience", got.GetGrantedAudience(), want.GrantedAudience},
	} {
		if !slices.Equal(f.got, f.want) {
			t.Errorf("%s = %v, want %v", f.name, f.got, f.want)
		}
	}
	if !reflect.DeepEqual(got.GetRequestForm(), want.Form) {
		t.Errorf("form = %v, want %v", got.GetRequestForm(), want.Form)
	}
	gs, ok := got.GetSession().(*openid.DefaultSession)
	if !ok {
		t.Fatalf("session = %T, want *openid.DefaultSession", got.GetSession())
	}
	ws := want.Session.(*openid.DefaultSession)
	if gs.Subject != ws.Subject || gs.Username != ws.Username || gs.Claims.Subject != ws.Claims.Subject ||
		gs.Claims.Issuer != ws.Claims.Issuer || !gs.Claims.AuthTime.Equal(ws.Claims.AuthTime) {
		t.Errorf("session = %+v / %+v, want %+v / %+v", gs, gs.Claims, ws, ws.Claims)
	}
	if !reflect.DeepEqual(gs.Claims.Extra, ws.Claims.Extra) || !reflect.DeepEqual(gs.Headers.Extra, ws.Headers.Extra) {
		t.Errorf("extra claims = %v, headers %v; want %v, %v", gs.Claims.Extra, gs.Headers.Extra, ws.Claims.Extra, ws.Headers.Extra)
	}
	for _, tt := range []fosite.TokenType{fosite.AuthorizeCode, fosite.AccessToken, fosite.RefreshToken} {
		if !gs.GetExpiresAt(tt).Equal(ws.GetExpiresAt(tt)) {
			t.Errorf("expiry of %s = %v, want %v", tt, gs.GetExpiresAt(tt), ws.GetExpiresAt(tt))
		}
	}
}

func isNotFound(err error) bool { return errors.Is(err, fosite.ErrNotFound) }

// --- clients ----------------------------------------------------------------------

func testGetClient(t *testing.T, s *fositestore.Store) {
	ctx := context.Background()
	web, ok := getClient(t, s, WebID).(*fositestore.Client)
	if !ok {
		t.Fatalf("GetClient returned %T, want *fositestore.Client", getClient(t, s, WebID))
	}
	if web.GetID() != WebID || string(web.GetHashedSecret()) != SecretHash || web.IsPublic() {
		t.Errorf("web client: id %q, secret %q, public %v", web.GetID(), web.GetHashedSecret(), web.IsPublic())
	}
	if !slices.Equal(web.GetResponseTypes(), fosite.Arguments{"code"}) {
		t.Errorf("web response types = %v, want [code]", web.GetResponseTypes())
	}
	if !slices.Equal(web.GetGrantTypes(), fosite.Arguments{"authorization_code", "refresh_token", "client_credentials"}) {
		t.Errorf("web grant types = %v", web.GetGrantTypes())
	}
	if !slices.Equal(web.GetScopes(), fosite.Arguments{"openid", "offline_access", "read", "write"}) {
		t.Errorf("web scopes = %v", web.GetScopes())
	}
	if !slices.Equal(web.GetRedirectURIs(), []string{WebRedirect}) {
		t.Errorf("web redirect URIs = %v", web.GetRedirectURIs())
	}
	if m := web.GetTokenEndpointAuthMethod(); m != "client_secret_basic" {
		t.Errorf("web auth method = %q, want client_secret_basic", m)
	}
	if !slices.Contains(web.GetResponseModes(), fosite.ResponseModeQuery) || slices.Contains(web.GetResponseModes(), fosite.ResponseModeFragment) {
		t.Errorf("web response modes = %v, want query (and form_post), no fragment", web.GetResponseModes())
	}
	if len(web.GetAudience()) != 0 || web.GetJSONWebKeys() != nil || web.GetJSONWebKeysURI() != "" || len(web.GetRequestURIs()) != 0 {
		t.Errorf("web client has audience %v, keys %v %q, request URIs %v", web.GetAudience(), web.GetJSONWebKeys(), web.GetJSONWebKeysURI(), web.GetRequestURIs())
	}
	if d := web.Domain(); d.ID != WebID || d.Type != access.Confidential || !d.Introspection {
		t.Errorf("Domain() = %+v", d)
	}

	machine := getClient(t, s, MachineID).(*fositestore.Client)
	if len(machine.GetResponseTypes()) != 0 || len(machine.GetResponseModes()) != 0 {
		t.Errorf("machine client: response types %v, modes %v; want none", machine.GetResponseTypes(), machine.GetResponseModes())
	}
	if machine.IsPublic() || machine.GetTokenEndpointAuthMethod() != "client_secret_basic" {
		t.Errorf("machine client: public %v, method %q", machine.IsPublic(), machine.GetTokenEndpointAuthMethod())
	}

	spa := getClient(t, s, SPAID).(*fositestore.Client)
	if !spa.IsPublic() || spa.GetTokenEndpointAuthMethod() != "none" || len(spa.GetHashedSecret()) != 0 {
		t.Errorf("spa client: public %v, method %q, secret %q", spa.IsPublic(), spa.GetTokenEndpointAuthMethod(), spa.GetHashedSecret())
	}
	if !slices.Equal(spa.GetResponseTypes(), fosite.Arguments{"code"}) {
		t.Errorf("spa response types = %v", spa.GetResponseTypes())
	}

	c, err := s.GetClient(ctx, "no-such-client")
	if !isNotFound(err) || c != nil {
		t.Fatalf("GetClient(unknown) = %v, %v; want nil, ErrNotFound", c, err)
	}
}

// testClientAuthenticationMethod checks that the wrapper lets a confidential client use
// either secret method while a public client stays "none".
func testClientAuthenticationMethod(t *testing.T, s *fositestore.Store) {
	var seen fosite.Client
	strategy := s.ClientAuthentication(func(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
		id := form.Get("client_id")
		if u, _, ok := r.BasicAuth(); ok {
			id = u
		}
		c, err := s.GetClient(ctx, id)
		seen = c
		return c, err
	})
	for _, tc := range []struct {
		name, client string
		basic, post  bool
		want         string
	}{
		{"basic", WebID, true, false, "client_secret_basic"},
		{"post", WebID, false, true, "client_secret_post"},
		{"both", WebID, true, true, "client_secret_basic"}, // fosite then refuses the form secret
		{"neither", WebID, false, false, "client_secret_basic"},
		{"public with secret", SPAID, false, true, "none"},
		{"public", SPAID, false, false, "none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{"grant_type": {"client_credentials"}, "client_id": {tc.client}}
			if tc.post {
				form.Set("client_secret", ClientSecret)
			}
			r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(form.Encode()))
			if tc.basic {
				r.SetBasicAuth(tc.client, ClientSecret)
			}
			if _, err := strategy(context.Background(), r, form); err != nil {
				t.Fatal(err)
			}
			if m := seen.(fosite.OpenIDConnectClient).GetTokenEndpointAuthMethod(); m != tc.want {
				t.Fatalf("method = %q, want %q", m, tc.want)
			}
		})
	}
}

// --- codes and tokens -------------------------------------------------------------

func testAuthorizeCode(t *testing.T, s *fositestore.Store) {
	ctx := context.Background()
	req, sig := userRequest(t, s, "user-1"), random(t, "code-")
	if err := s.CreateAuthorizeCodeSession(ctx, sig, req); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetAuthorizeCodeSession(ctx, sig, fresh())
	if err != nil {
		t.Fatal(err)
	}
	sameRequest(t, got, req)

	if err := s.InvalidateAuthorizeCodeSession(ctx, sig); err != nil {
		t.Fatalf("first invalidation: %v", err)
	}
	got, err = s.GetAuthorizeCodeSession(ctx, sig, fresh())
	if !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
		t.Fatalf("Get after invalidation: err = %v, want ErrInvalidatedAuthorizeCode", err)
	}
	sameRequest(t, got, req) // fosite revokes the grant by this request's ID

	if err := s.InvalidateAuthorizeCodeSession(ctx, sig); !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
		t.Fatalf("second invalidation = %v, want ErrInvalidatedAuthorizeCode", err)
	}
	if got, err := s.GetAuthorizeCodeSession(ctx, random(t, "code-"), fresh()); !isNotFound(err) || got != nil {
		t.Fatalf("Get(unknown) = %v, %v; want nil, ErrNotFound", got, err)
	}
	if err := s.InvalidateAuthorizeCodeSession(ctx, random(t, "code-")); !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
		t.Fatalf("Invalidate(unknown) = %v, want ErrInvalidatedAuthorizeCode", err)
	}
}

func testAccessToken(t *testing.T, s *fositestore.Store) {
	ctx := context.Background()
	req, sig := userRequest(t, s, "user-1"), random(t, "at-")
	if err := s.CreateAccessTokenSession(ctx, sig, req); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetAccessTokenSession(ctx, sig, fresh())
	if err != nil {
		t.Fatal(err)
	}
	sameRequest(t, got, req)
	// fosite's revocation handler reads tokens without a session.
	got, err = s.GetAccessTokenSession(ctx, sig, nil)
	if err != nil || got.GetID() != req.ID || got.GetClient().GetID() != WebID {
		t.Fatalf("Get with nil session = %v, %v", got, err)
	}
	if err := s.DeleteAccessTokenSession(ctx, sig); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAccessTokenSession(ctx, sig, fresh()); !isNotFound(err) {
		t.Fatalf("Get after delete = %v, want ErrNotFound", err)
	}
	if err := s.DeleteAccessTokenSession(ctx, sig); err != nil {
		t.Fatalf("second delete = %v, want nil (idempotent)", err)
	}
}

func testRefreshToken(t *testing.T, s *fositestore.Store) {
	ctx := context.Background()
	req, sig := userRequest(t, s, "user-1"), random(t, "rt-")
	if err := s.CreateRefreshTokenSession(ctx, sig, random(t, "at-"), req); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRefreshTokenSession(ctx, sig, fresh())
	if err != nil {
		t.Fatal(err)
	}
	sameRequest(t, got, req)
	if err := s.DeleteRefreshTokenSession(ctx, sig); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetRefreshTokenSession(ctx, sig, fresh()); !isNotFound(err) {
		t.Fatalf("Get after delete = %v, want ErrNotFound", err)
	}
	if _, err := s.GetRefreshTokenSession(ctx, random(t, "rt-"), fresh()); !isNotFound(err) {
		t.Fatalf("Get(unknown) = %v, want ErrNotFound", err)
	}
}

func testRotateRefreshToken(t *testing.T, s *fositestore.Store) {
	ctx := context.Background()
	req := userRequest(t, s, "user-1")
	at, rt := random(t, "at-"), random(t, "rt-")
	if err := s.CreateAccessTokenSession(ctx, at, req); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRefreshTokenSession(ctx, rt, at, req); err != nil {
		t.Fatal(err)
	}
	// Another grant's tokens must not be touched.
	other := userRequest(t, s, "user-1")
	otherAT, otherRT := random(t, "at-"), random(t, "rt-")
	if err := s.CreateAccessTokenSession(ctx, otherAT, other); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRefreshTokenSession(ctx, otherRT, otherAT, other); err != nil {
		t.Fatal(err)
	}

	if err := s.RotateRefreshToken(ctx, other.ID, rt); err == nil {
		t.Fatal("RotateRefreshToken with another grant's request ID succeeded")
	}
	if _, err := s.GetRefreshTokenSession(ctx, rt, fresh()); err != nil {
		t.Fatalf("refresh token after refused rotation: %v, want active", err)
	}

	if err := s.RotateRefreshToken(ctx, req.ID, rt); err != nil {
		t.Fatalf("RotateRefreshToken: %v", err)
	}
	got, err := s.GetRefreshTokenSession(ctx, rt, fresh())
	if !errors.Is(err, fosite.ErrInactiveToken) || got == nil || got.GetID() != req.ID {
		t.Fatalf("rotated refresh token: %v, %v; want request %s with ErrInactiveToken", got, err, req.ID)
	}
	if got, err := s.GetAccessTokenSession(ctx, at, fresh()); !errors.Is(err, fosite.ErrInactiveToken) || got == nil {
		t.Fatalf("paired access token: %v, %v; want request with ErrInactiveToken", got, err)
	}
	if err := s.RotateRefreshToken(ctx, req.ID, rt); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Fatalf("second rotation = %v, want ErrInactiveToken", err)
	}
	if _, err := s.GetRefreshTokenSession(ctx, otherRT, fresh()); err != nil {
		t.Fatalf("other grant's refresh token: %v", err)
	}
	if _, err := s.GetAccessTokenSession(ctx, otherAT, fresh()); err != nil {
		t.Fatalf("other grant's access token: %v", err)
	}
}

func testRevokeByRequestID(t *testing.T, s *fositestore.Store) {
	ctx := context.Background()
	req, other := userRequest(t, s, "user-1"), userRequest(t, s, "user-1")
	ats := []string{random(t, "at-"), random(t, "at-")}
	rt := random(t, "rt-")
	for _, at := range ats {
		if err := s.CreateAccessTokenSession(ctx, at, req); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateRefreshTokenSession(ctx, rt, ats[1], req); err != nil {
		t.Fatal(err)
	}
	otherAT, otherRT := random(t, "at-"), random(t, "rt-")
	if err := s.CreateAccessTokenSession(ctx, otherAT, other); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRefreshTokenSession(ctx, otherRT, otherAT, other); err != nil {
		t.Fatal(err)
	}

	if err := s.RevokeAccessToken(ctx, req.ID); err != nil {
		t.Fatal(err)
	}
	for _, at := range ats {
		got, err := s.GetAccessTokenSession(ctx, at, fresh())
		if !errors.Is(err, fosite.ErrInactiveToken) {
			t.Fatalf("revoked access token: err = %v, want ErrInactiveToken", err)
		}
		sameRequest(t, got, req)
	}
	if _, err := s.GetRefreshTokenSession(ctx, rt, fresh()); err != nil {
		t.Fatalf("RevokeAccessToken touched the refresh token: %v", err)
	}
	if err := s.RevokeRefreshToken(ctx, req.ID); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRefreshTokenSession(ctx, rt, fresh())
	if !errors.Is(err, fosite.ErrInactiveToken) {
		t.Fatalf("revoked refresh token: err = %v, want ErrInactiveToken", err)
	}
	sameRequest(t, got, req)
	if _, err := s.GetAccessTokenSession(ctx, otherAT, fresh()); err != nil {
		t.Fatalf("other grant's access token: %v", err)
	}
	if _, err := s.GetRefreshTokenSession(ctx, otherRT, fresh()); err != nil {
		t.Fatalf("other grant's refresh token: %v", err)
	}
	if err := s.RevokeAccessToken(ctx, "no-such-request"); err != nil {
		t.Fatalf("RevokeAccessToken(unknown) = %v, want nil", err)
	}
	if err := s.RevokeRefreshToken(ctx, "no-such-request"); err != nil {
		t.Fatalf("RevokeRefreshToken(unknown) = %v, want nil", err)
	}
}

func testPKCE(t *testing.T, s *fositestore.Store) {
	ctx := context.Background()
	req, sig := userRequest(t, s, "user-1"), random(t, "code-")
	req.Form = url.Values{"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
	if err := s.CreatePKCERequestSession(ctx, sig, req); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetPKCERequestSession(ctx, sig, fresh())
	if err != nil {
		t.Fatal(err)
	}
	sameRequest(t, got, req)
	// Delete keeps the row, so that a concurrent redemption of the code gets as far as
	// the code's single-use check; the row goes when the code expires.
	for range 2 {
		if err := s.DeletePKCERequestSession(ctx, sig); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.GetPKCERequestSession(ctx, sig, fresh()); err != nil {
		t.Fatalf("Get after delete = %v, want the request until it expires", err)
	}
	if _, err := s.DeleteExpired(ctx, time.Now().Add(2*time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetPKCERequestSession(ctx, sig, fresh()); !isNotFound(err) {
		t.Fatalf("Get after expiry = %v, want ErrNotFound", err)
	}
}

func testOpenIDConnectSession(t *testing.T, s *fositestore.Store) {
	ctx := context.Background()
	req, code := userRequest(t, s, "user-1"), random(t, "rawcode.")
	req.Form = url.Values{"nonce": {"n-0S6_WzA2Mj"}, "grant_type": {"authorization_code"}}
	if err := s.CreateOpenIDConnectSession(ctx, code, req); err != nil {
		t.Fatal(err)
	}
	// fosite passes the token request, whose session must stay as it is.
	caller := fosite.NewRequest()
	caller.Session = fresh()
	got, err := s.GetOpenIDConnectSession(ctx, code, caller)
	if err != nil {
		t.Fatal(err)
	}
	sameRequest(t, got, req)
	if caller.Session.(*openid.DefaultSession).Subject != "" {
		t.Error("GetOpenIDConnectSession wrote into the caller's session")
	}
	if _, err := s.GetOpenIDConnectSession(ctx, code+"x", caller); !errors.Is(err, openid.ErrNoSessionFound) {
		t.Fatalf("Get(other code) = %v, want ErrNoSessionFound", err)
	}
	if err := s.DeleteOpenIDConnectSession(ctx, code); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetOpenIDConnectSession(ctx, code, caller); !errors.Is(err, openid.ErrNoSessionFound) {
		t.Fatalf("Get after delete = %v, want ErrNoSessionFound", err)
	}
}

func testCreateErrors(t *testing.T, s *fositestore.Store) {
	ctx := context.Background()
	req, sig := userRequest(t, s, "user-1"), random(t, "at-")
	if err := s.CreateAccessTokenSession(ctx, sig, req); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAccessTokenSession(ctx, sig, userRequest(t, s, "user-2")); err == nil {
		t.Fatal("second token under the same signature was accepted")
	}
	ghost := userRequest(t, s, "user-1")
	ghost.Client = &fosite.DefaultClient{ID: "no-such-client"}
	if err := s.CreateAccessTokenSession(ctx, random(t, "at-"), ghost); !isNotFound(err) {
		t.Fatalf("token for an unknown client = %v, want ErrNotFound", err)
	}
}

// testSessionID stores access.Session, which carries the login session id, and checks
// that it round-trips; testRevokeBy checks the sid column through revocation.
func testSessionID(t *testing.T, s *fositestore.Store) {
	ctx := context.Background()
	sess := access.NewSession("user-1", "alice", "sid-123")
	sess.SetExpiresAt(fosite.AccessToken, time.Now().Add(time.Minute))
	req := newRequest(t, s, WebID, sess)
	sig := random(t, "at-")
	if err := s.CreateAccessTokenSession(ctx, sig, req); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetAccessTokenSession(ctx, sig, access.NewSession("", "", ""))
	if err != nil {
		t.Fatal(err)
	}
	gs := got.GetSession().(*access.Session)
	if gs.SID != "sid-123" || gs.GetSubject() != "user-1" || gs.Claims.Subject != "user-1" || gs.Username != "alice" {
		t.Fatalf("session = %+v (claims %+v)", gs, gs.Claims)
	}
	if n, err := s.RevokeBySessionID(ctx, "sid-123"); err != nil || n != 1 {
		t.Fatalf("RevokeBySessionID = %d, %v; want 1", n, err)
	}
}

func testRevokeBy(t *testing.T, s *fositestore.Store) {
	ctx := context.Background()
	exp := time.Now().Add(time.Minute)
	userReq := func(subject, sid string) *fosite.Request {
		sess := access.NewSession(subject, "", sid)
		for _, tt := range []fosite.TokenType{fosite.AuthorizeCode, fosite.AccessToken, fosite.RefreshToken} {
			sess.SetExpiresAt(tt, exp)
		}
		return newRequest(t, s, WebID, sess)
	}
	// Login session A: a code, and the tokens of an earlier code exchange.
	a := userReq("user-a", "sid-a")
	codeA, atA, rtA := random(t, "code-"), random(t, "at-"), random(t, "rt-")
	must(t, s.CreateAuthorizeCodeSession(ctx, codeA, a))
	must(t, s.CreateAccessTokenSession(ctx, atA, a))
	must(t, s.CreateRefreshTokenSession(ctx, rtA, atA, a))
	// The same user in login session B.
	b := userReq("user-a", "sid-b")
	atB := random(t, "at-")
	must(t, s.CreateAccessTokenSession(ctx, atB, b))
	// Another user, and a machine token (no sid, subject = client).
	c := userReq("user-c", "sid-c")
	atC := random(t, "at-")
	must(t, s.CreateAccessTokenSession(ctx, atC, c))
	m := newRequest(t, s, MachineID, access.NewSession(MachineID, "", ""))
	atM := random(t, "at-")
	must(t, s.CreateAccessTokenSession(ctx, atM, m))

	for _, f := range []func() (int64, error){
		func() (int64, error) { return s.RevokeBySessionID(ctx, "") },
		func() (int64, error) { return s.RevokeByClient(ctx, "") },
		func() (int64, error) { return s.RevokeBySubject(ctx, "") },
	} {
		if n, err := f(); err == nil || n != 0 {
			t.Fatalf("revocation with an empty key = %d, %v; want an error", n, err)
		}
	}

	if n, err := s.RevokeBySessionID(ctx, "sid-a"); err != nil || n != 3 {
		t.Fatalf("RevokeBySessionID(sid-a) = %d, %v; want 3", n, err)
	}
	if _, err := s.GetAuthorizeCodeSession(ctx, codeA, fresh()); !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
		t.Fatalf("code of the revoked session: %v, want ErrInvalidatedAuthorizeCode", err)
	}
	if _, err := s.GetAccessTokenSession(ctx, atA, fresh()); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Fatalf("access token of the revoked session: %v", err)
	}
	if _, err := s.GetRefreshTokenSession(ctx, rtA, fresh()); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Fatalf("refresh token of the revoked session: %v", err)
	}
	if _, err := s.GetAccessTokenSession(ctx, atB, fresh()); err != nil {
		t.Fatalf("token of the other login session: %v", err)
	}
	if n, err := s.RevokeBySessionID(ctx, "sid-a"); err != nil || n != 0 {
		t.Fatalf("second RevokeBySessionID = %d, %v; want 0", n, err)
	}

	if n, err := s.RevokeBySubject(ctx, "user-a"); err != nil || n != 1 {
		t.Fatalf("RevokeBySubject(user-a) = %d, %v; want 1 (sid-b's token)", n, err)
	}
	if _, err := s.GetAccessTokenSession(ctx, atC, fresh()); err != nil {
		t.Fatalf("another subject's token: %v", err)
	}

	if n, err := s.RevokeByClient(ctx, MachineID); err != nil || n != 1 {
		t.Fatalf("RevokeByClient(machine) = %d, %v; want 1", n, err)
	}
	if _, err := s.GetAccessTokenSession(ctx, atM, fresh()); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Fatalf("machine token: %v", err)
	}
	if n, err := s.RevokeByClient(ctx, WebID); err != nil || n != 1 {
		t.Fatalf("RevokeByClient(web) = %d, %v; want 1 (user-c's token)", n, err)
	}
	if _, err := s.GetAccessTokenSession(ctx, atC, fresh()); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Fatalf("user-c's token after RevokeByClient: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// --- client assertions, garbage collection, transactions -------------------------

func testJTI(t *testing.T, s *fositestore.Store) {
	ctx := context.Background()
	jti := random(t, "jti-")
	if err := s.ClientAssertionJWTValid(ctx, jti); err != nil {
		t.Fatalf("unknown jti: %v", err)
	}
	if err := s.SetClientAssertionJWT(ctx, jti, time.Now().Add(time.Minute)); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if err := s.ClientAssertionJWTValid(ctx, jti); !errors.Is(err, fosite.ErrJTIKnown) {
		t.Fatalf("Valid after use = %v, want ErrJTIKnown", err)
	}
	if err := s.SetClientAssertionJWT(ctx, jti, time.Now().Add(time.Hour)); !errors.Is(err, fosite.ErrJTIKnown) {
		t.Fatalf("replay = %v, want ErrJTIKnown", err)
	}

	old := random(t, "jti-")
	if err := s.SetClientAssertionJWT(ctx, old, time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.ClientAssertionJWTValid(ctx, old); err != nil {
		t.Fatalf("expired jti: %v, want nil", err)
	}
	if err := s.SetClientAssertionJWT(ctx, old, time.Now().Add(time.Minute)); err != nil {
		t.Fatalf("reuse of an expired jti: %v, want nil", err)
	}
	if err := s.ClientAssertionJWTValid(ctx, old); !errors.Is(err, fosite.ErrJTIKnown) {
		t.Fatalf("jti renewed after expiry: Valid = %v, want ErrJTIKnown", err)
	}
}

func testDeleteExpired(t *testing.T, s *fositestore.Store) {
	ctx := context.Background()
	now := time.Now().UTC()
	past, future := now.Add(-time.Hour), now.Add(time.Hour)
	at := func(exp time.Time) *fosite.Request {
		sess := newSession("user-1", exp)
		sess.ExpiresAt = map[fosite.TokenType]time.Time{fosite.AuthorizeCode: exp, fosite.AccessToken: exp, fosite.RefreshToken: exp}
		return newRequest(t, s, WebID, sess)
	}
	type row struct {
		get     func() error
		expired bool
	}
	var rows []row
	add := func(exp time.Time, create func(sig string, r fosite.Requester) error, get func(sig string) error) {
		sig := random(t, "sig-")
		must(t, create(sig, at(exp)))
		rows = append(rows, row{get: func() error { return get(sig) }, expired: exp.Before(now)})
	}
	for _, exp := range []time.Time{past, past, past, past, past, future, future} { // 5 expired: several batches of 2
		add(exp, func(sig string, r fosite.Requester) error { return s.CreateAccessTokenSession(ctx, sig, r) },
			func(sig string) error { _, err := s.GetAccessTokenSession(ctx, sig, fresh()); return err })
	}
	for _, exp := range []time.Time{past, future} {
		add(exp, func(sig string, r fosite.Requester) error { return s.CreateAuthorizeCodeSession(ctx, sig, r) },
			func(sig string) error { _, err := s.GetAuthorizeCodeSession(ctx, sig, fresh()); return err })
		add(exp, func(sig string, r fosite.Requester) error { return s.CreateRefreshTokenSession(ctx, sig, "", r) },
			func(sig string) error { _, err := s.GetRefreshTokenSession(ctx, sig, fresh()); return err })
		add(exp, func(sig string, r fosite.Requester) error { return s.CreatePKCERequestSession(ctx, sig, r) },
			func(sig string) error { _, err := s.GetPKCERequestSession(ctx, sig, fresh()); return err })
		add(exp, func(sig string, r fosite.Requester) error { return s.CreateOpenIDConnectSession(ctx, sig, r) },
			func(sig string) error {
				_, err := s.GetOpenIDConnectSession(ctx, sig, &fosite.Request{Session: fresh()})
				return err
			})
	}
	// A refresh token that never expires (negative refresh lifespan) stays.
	never := at(future)
	delete(never.Session.(*openid.DefaultSession).ExpiresAt, fosite.RefreshToken)
	neverSig := random(t, "rt-")
	must(t, s.CreateRefreshTokenSession(ctx, neverSig, "", never))
	// One expired and one live client-assertion jti.
	oldJTI, liveJTI := random(t, "jti-"), random(t, "jti-")
	must(t, s.SetClientAssertionJWT(ctx, oldJTI, past))
	must(t, s.SetClientAssertionJWT(ctx, liveJTI, future))

	const wantDeleted = 5 + 4 + 1
	n, err := s.DeleteExpired(ctx, now, 2)
	if err != nil || n != wantDeleted {
		t.Fatalf("DeleteExpired = %d, %v; want %d", n, err, wantDeleted)
	}
	for i, r := range rows {
		err := r.get()
		if r.expired && !isNotFound(err) {
			t.Errorf("row %d (expired): %v, want ErrNotFound", i, err)
		}
		if !r.expired && err != nil {
			t.Errorf("row %d (live): %v, want it kept", i, err)
		}
	}
	if _, err := s.GetRefreshTokenSession(ctx, neverSig, fresh()); err != nil {
		t.Errorf("refresh token without expiry: %v, want it kept", err)
	}
	if err := s.SetClientAssertionJWT(ctx, liveJTI, future); !errors.Is(err, fosite.ErrJTIKnown) {
		t.Errorf("live jti after collection: %v, want ErrJTIKnown", err)
	}
	if n, err := s.DeleteExpired(ctx, now, 0); err != nil || n != 0 {
		t.Fatalf("second DeleteExpired = %d, %v; want 0", n, err)
	}
}

func testTransactional(t *testing.T, s *fositestore.Store) {
	bg := context.Background()
	req := userRequest(t, s, "user-1")
	code, at, rt := random(t, "code-"), random(t, "at-"), random(t, "rt-")

	// Inside the transaction use only its context: on SQLite a second connection would
	// wait for this transaction forever.
	ctx, err := s.BeginTX(bg)
	must(t, err)
	if _, err := s.BeginTX(ctx); err == nil {
		t.Error("BeginTX inside a transaction succeeded; want an error")
	}
	must(t, s.CreateAuthorizeCodeSession(ctx, code, req))
	must(t, s.CreateAccessTokenSession(ctx, at, req))
	must(t, s.CreateRefreshTokenSession(ctx, rt, at, req))
	if _, err := s.GetAccessTokenSession(ctx, at, fresh()); err != nil {
		t.Fatalf("own write inside the transaction: %v", err)
	}
	must(t, s.Rollback(ctx))
	if _, err := s.GetAuthorizeCodeSession(bg, code, fresh()); !isNotFound(err) {
		t.Errorf("code after rollback: %v, want ErrNotFound", err)
	}
	if _, err := s.GetAccessTokenSession(bg, at, fresh()); !isNotFound(err) {
		t.Errorf("access token after rollback: %v, want ErrNotFound", err)
	}
	if _, err := s.GetRefreshTokenSession(bg, rt, fresh()); !isNotFound(err) {
		t.Errorf("refresh token after rollback: %v, want ErrNotFound", err)
	}

	// A rolled-back invalidation leaves the code redeemable.
	must(t, s.CreateAuthorizeCodeSession(bg, code, req))
	ctx, err = s.BeginTX(bg)
	must(t, err)
	must(t, s.InvalidateAuthorizeCodeSession(ctx, code))
	must(t, s.Rollback(ctx))
	if _, err := s.GetAuthorizeCodeSession(bg, code, fresh()); err != nil {
		t.Fatalf("code after rolled-back invalidation: %v, want active", err)
	}

	ctx, err = s.BeginTX(bg)
	must(t, err)
	must(t, s.InvalidateAuthorizeCodeSession(ctx, code))
	must(t, s.CreateAccessTokenSession(ctx, at, req))
	must(t, s.Commit(ctx))
	if _, err := s.GetAccessTokenSession(bg, at, fresh()); err != nil {
		t.Fatalf("access token after commit: %v", err)
	}
	if _, err := s.GetAuthorizeCodeSession(bg, code, fresh()); !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
		t.Fatalf("code after committed invalidation: %v", err)
	}
}

// --- concurrency ------------------------------------------------------------------

const racers = 8

// race runs attempt in racers goroutines. Each first calls read (outside any
// transaction, as fosite reads a code or token before redeeming it), then all wait until
// every read is done, so that all of them saw the code or token active, and only then
// attempt. It returns the attempts' errors.
func race(t *testing.T, read func() error, attempt func(i int) error) []error {
	t.Helper()
	var (
		readers sync.WaitGroup
		done    sync.WaitGroup
		start   = make(chan struct{})
		errs    = make([]error, racers)
	)
	readers.Add(racers)
	done.Add(racers)
	for i := range racers {
		go func() {
			defer done.Done()
			err := read()
			readers.Done()
			<-start
			if err != nil {
				errs[i] = err
				return
			}
			errs[i] = attempt(i)
		}()
	}
	readers.Wait()
	close(start)
	done.Wait()
	return errs
}

// inTx runs fn in a transaction of its own, as fosite does, retrying on serialization
// failure a few times.
func inTx(s *fositestore.Store, fn func(ctx context.Context) error) error {
	var err error
	for range 5 {
		var ctx context.Context
		if ctx, err = s.BeginTX(context.Background()); err != nil {
			return err
		}
		if err = fn(ctx); err != nil {
			_ = s.Rollback(ctx)
		} else {
			err = s.Commit(ctx)
		}
		if !errors.Is(err, fosite.ErrSerializationFailure) {
			return err
		}
	}
	return err
}

func oneWinner(t *testing.T, errs []error, loss error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("racers %d and %d both won", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, loss):
			t.Errorf("racer %d: %v, want %v", i, err, loss)
		}
	}
	if winner < 0 {
		t.Fatalf("nobody won: %v", errs)
	}
	return winner
}

func testConcurrentCodeRedemption(t *testing.T, s *fositestore.Store) {
	bg := context.Background()
	req, code := userRequest(t, s, "user-1"), random(t, "code-")
	must(t, s.CreateAuthorizeCodeSession(bg, code, req))
	ats := make([]string, racers)
	for i := range ats {
		ats[i] = random(t, "at-")
	}
	errs := race(t,
		func() error { _, err := s.GetAuthorizeCodeSession(bg, code, fresh()); return err },
		func(i int) error {
			return inTx(s, func(ctx context.Context) error {
				if err := s.InvalidateAuthorizeCodeSession(ctx, code); err != nil {
					return err
				}
				return s.CreateAccessTokenSession(ctx, ats[i], req)
			})
		})
	winner := oneWinner(t, errs, fosite.ErrInvalidatedAuthorizeCode)
	for i, at := range ats {
		_, err := s.GetAccessTokenSession(bg, at, fresh())
		if i == winner && err != nil {
			t.Errorf("winner's access token: %v", err)
		}
		if i != winner && !isNotFound(err) {
			t.Errorf("loser %d's access token: %v, want ErrNotFound (rolled back)", i, err)
		}
	}
}

func testConcurrentRefreshRotation(t *testing.T, s *fositestore.Store) {
	bg := context.Background()
	req := userRequest(t, s, "user-1")
	at, rt := random(t, "at-"), random(t, "rt-")
	must(t, s.CreateAccessTokenSession(bg, at, req))
	must(t, s.CreateRefreshTokenSession(bg, rt, at, req))
	newAT, newRT := make([]string, racers), make([]string, racers)
	for i := range racers {
		newAT[i], newRT[i] = random(t, "at-"), random(t, "rt-")
	}
	errs := race(t,
		func() error { _, err := s.GetRefreshTokenSession(bg, rt, fresh()); return err },
		func(i int) error {
			return inTx(s, func(ctx context.Context) error {
				if err := s.RotateRefreshToken(ctx, req.ID, rt); err != nil {
					return err
				}
				if err := s.CreateAccessTokenSession(ctx, newAT[i], req); err != nil {
					return err
				}
				return s.CreateRefreshTokenSession(ctx, newRT[i], newAT[i], req)
			})
		})
	winner := oneWinner(t, errs, fosite.ErrInactiveToken)
	for i := range racers {
		_, err := s.GetRefreshTokenSession(bg, newRT[i], fresh())
		if i == winner && err != nil {
			t.Errorf("winner's refresh token: %v", err)
		}
		if i != winner && !isNotFound(err) {
			t.Errorf("loser %d's refresh token: %v, want ErrNotFound (rolled back)", i, err)
		}
	}
	if _, err := s.GetAccessTokenSession(bg, at, fresh()); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Errorf("old access token: %v, want ErrInactiveToken", err)
	}
	if _, err := s.GetRefreshTokenSession(bg, rt, fresh()); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Errorf("old refresh token: %v, want ErrInactiveToken", err)
	}
}

func testConcurrentJTI(t *testing.T, s *fositestore.Store) {
	bg := context.Background()
	jti := random(t, "jti-")
	errs := race(t,
		func() error { return s.ClientAssertionJWTValid(bg, jti) },
		func(int) error { return s.SetClientAssertionJWT(bg, jti, time.Now().Add(time.Minute)) })
	oneWinner(t, errs, fosite.ErrJTIKnown)
}
