package oauth_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/fositestore"
	"github.com/weft-fabric/weft/access/gate"
	"github.com/weft-fabric/weft/access/httpserver"
	"github.com/weft-fabric/weft/access/keys"
	"github.com/weft-fabric/weft/access/keys/keysql"
	"github.com/weft-fabric/weft/access/oauth"
	"github.com/weft-fabric/weft/access/revocation"
	accsql "github.com/weft-fabric/weft/access/sqlstore"
	"github.com/weft-fabric/weft/access/throttle"
	"github.com/weft-fabric/weft/access/websession"
	"github.com/weft-fabric/weft/analytics"
	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/password"
	"github.com/weft-fabric/weft/identity/sqlstore"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
	"github.com/weft-fabric/weft/policy"
)

// The handler is wired as cmd/weft/wire.go wires it (newApp with roleServer, then
// newHTTP), over a real database: the directory, login sessions, clients, token store,
// signing keys, consents, outbox and audit log are the production ones. Only the
// logout confirmation page (ui) is a fake. Requests go through echo's ServeHTTP, so no
// test opens a socket.
//
// The token storage is wired per backend as the server wires it (buildFanout): on
// SQLite, the embedded single node, behind the revocation fan-out's token cache on an
// in-process bus; on PostgreSQL, as without Redis, the store itself. Differences from
// the server, on purpose: the keys are ES256 only (no RSA key to generate per test),
// and argon2id runs with the cheapest parameters.

// issuer is never contacted: requests are served in process.
const issuer = "http://127.0.0.1:4444"

// Client ids and secrets, after examples/fabric.yaml.
const (
	webID, webSecret         = "demo-web", "demo-web-secret"
	spaID                    = "demo-spa"
	m2mID, m2mSecret         = "demo-m2m", "demo-m2m-secret"
	gatewayID, gatewaySecret = "demo-gateway", "demo-gateway-secret"
	firstID, firstSecret     = "intranet", "intranet-secret-123"

	webCallback   = "http://127.0.0.1:9555/callback"
	spaCallback   = "http://127.0.0.1:9556/callback"
	webPostLogout = "http://127.0.0.1:9555/"
	// webBackchannel receives back-channel logout tokens; the outbox worker, which
	// would post them, is not running in these tests.
	webBackchannel = "http://127.0.0.1:9555/backchannel-logout"

	// acr is what the login page records for a password login.
	acr = "http://idmanagement.gov/ns/assurance/aal/1"
)

// stateTables hold everything a request to the OAuth endpoints may write: a refused
// request must leave all of them as they were.
var stateTables = []string{
	"oauth_authorization_codes", "oauth_access_tokens", "oauth_refresh_tokens", "oauth_oidc_sessions",
	"oauth_pkce_requests", "login_sessions", "login_session_clients", "oauth_consents", "outbox", "audit_log",
	"revocations", "revocation_nodes",
}

var testParams = password.Params{MemoryKiB: password.MinMemoryKiB, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// env is one provider over one database.
type env struct {
	t        *testing.T
	e        *echo.Echo
	db       *sqlstore.DB
	dir      *identity.Directory
	sessions *identity.Sessions
	consents *accsql.Consents
	clients  *access.Clients
	keys     *keys.Manager
	audit    *identity.AuditLog
	cookies  websession.Cookies
	logs     *syncBuffer
	// confirmations counts the logout confirmation pages shown.
	confirmations *counter
	// clock is the token store's and the client registry's: tests move it forward to
	// end a secret rotation's overlap.
	clock *testClock
	// signals hears of the sessions revocations (and logouts) end.
	signals *signals
	handler *oauth.Handler

	alice, bob identity.User
	machine    identity.MachineIdentity // demo-m2m acts for it
}

// roomyLimits keep the client authentication throttle out of the way of tests about
// other things; the throttle's own tests pass theirs to newEnvWith.
var roomyLimits = throttle.ClientAuthLimits{PerClient: throttle.PerMinute(10000), PerIP: throttle.PerMinute(10000), KnownFor: time.Hour}

func newEnv(t *testing.T, b sqltest.Backend, opts ...password.Option) *env {
	t.Helper()
	return newEnvWith(t, b, roomyLimits, opts...)
}

func newEnvWith(t *testing.T, b sqltest.Backend, limits throttle.ClientAuthLimits, opts ...password.Option) *env {
	t.Helper()
	ctx := context.Background()
	db := openDB(t, b)
	hasher, err := password.NewHasher(testParams, opts...)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	dirStore := sqlstore.NewDirectory(db)
	sessions := identity.NewSessions(sqlstore.NewSessions(db), time.Hour)
	clientCache := access.NewClientCache(accsql.NewClients(db), 10*time.Second)
	clock := &testClock{}
	tokens := fositestore.New(db, clientCache, fositestore.Options{Now: clock.Now})
	var storage access.TokenStorage = tokens
	f := &revocation.Fanout{Node: "test", Log: accsql.NewRevocations(db), Bus: revocation.LocalBus{}, Logger: log}
	if b == sqltest.SQLite {
		f.Cache = revocation.NewTokenCache(tokens, time.Minute, 100000)
		f.Cache.Attach(f.Fresh, func(ctx context.Context, ev revocation.Event) error {
			_, err := f.Publish(ctx, ev)
			return err
		})
		storage = f.Cache
	}
	audit := sqltest.AuditLog(t, db)
	// No account observer: suspending a user here does not revoke its tokens, so the
	// endpoints' own checks of the user's status are what the tests see.
	dir := identity.NewDirectory(dirStore, db, hasher)
	clients := access.NewClients(clientCache, dirStore, db, hasher)
	clients.SetClock(func() time.Time { return clock.Now().UTC().Truncate(time.Microsecond) })

	km, err := keys.New(keysql.New(db), db, keys.Config{KEK: random(t, 32), Algs: []keys.Alg{keys.ES256}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := km.EnsureKeys(ctx); err != nil {
		t.Fatal(err)
	}
	clientThrottle, err := throttle.NewClientAuth(throttle.NewLocal(), limits)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := oauth.NewSecretVerifier(hasher, clientThrottle, 5*time.Minute, 10000)
	if err != nil {
		t.Fatal(err)
	}
	provider, err := oauth.NewProvider(oauth.Config{Issuer: issuer, HMACSecret: random(t, 32)}, storage,
		oauth.Signers{ES256: km.FositeSigner(keys.ES256), RS256: km.FositeSigner(keys.RS256)}, verifier, clientCache)
	if err != nil {
		t.Fatal(err)
	}
	cookies := websession.Cookies{Secure: false} // as for an http:// issuer
	consents := accsql.NewConsents(db)
	confirmations := &counter{}
	// The gate as the server wires it: the directory's principals, no risk, allow-all.
	g, err := gate.New(gate.Deps{Tokens: provider, Principals: gate.DirectoryPrincipals{Subjects: dirStore},
		Risk: analytics.NoRisk{}, Policy: policy.AllowAll{}, Events: analytics.Discard{}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	signals := &signals{}
	revocations, err := revocation.NewService(revocation.Deps{Store: accsql.NewRevocations(db), Grants: tokens, Lookup: provider,
		Sessions: sessions, Subjects: dirStore, Clients: clientCache, Tx: db, Fanout: f, Audit: audit,
		Outbox: accsql.NewOutbox(db), Participants: tokens, Signals: signals, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	h, err := oauth.NewHandler(oauth.Handler{Provider: provider, Gate: g, Clients: clientCache, Keys: km, Logger: log,
		Directory: dir, Sessions: sessions, Consents: consents, Cookies: cookies,
		Browser: websession.NewBrowser(cookies, sessions, dir), Logout: revocations,
		ConfirmLogout: func(c echo.Context, _ url.Values) error {
			confirmations.add()
			return c.HTML(http.StatusOK, "<h1>Sign out of Weft?</h1>")
		},
		SignedOut: func(c echo.Context) error { return c.HTML(http.StatusOK, "<h1>You are signed out</h1>") },
		Audit:     audit, ClientThrottle: clientThrottle})
	if err != nil {
		t.Fatal(err)
	}
	e := httpserver.New(httpserver.Options{Logger: log, Errors: httpserver.IdentityErrors})
	h.Register(e)

	en := &env{t: t, e: e, db: db, dir: dir, sessions: sessions, consents: consents, clients: clients, keys: km,
		audit: audit, cookies: cookies, logs: logs, confirmations: confirmations, clock: clock, signals: signals, handler: h}
	en.alice = en.user(identity.NewUser{Username: "alice", Email: "alice@example.com", DisplayName: "Alice Example"})
	en.bob = en.user(identity.NewUser{Username: "bob", Email: "bob@example.com", DisplayName: "Bob Builder"})
	if en.machine, err = dir.CreateMachine(ctx, identity.NewMachine{Name: "ci-runner", OwnerID: en.bob.ID}); err != nil {
		t.Fatal(err)
	}
	for _, spec := range []access.ClientSpec{
		{ID: webID, Name: "Demo web application", Type: access.Confidential, Secret: webSecret,
			RedirectURIs: []string{webCallback}, GrantTypes: []string{access.GrantAuthorizationCode, access.GrantRefreshToken},
			Scopes: []string{"openid", "profile", "email", "offline_access"}, PostLogoutRedirectURIs: []string{webPostLogout},
			// It may introspect its own refresh tokens (gateways never see them active).
			BackchannelLogoutURI: webBackchannel, Introspection: true},
		{ID: spaID, Name: "Demo single-page application", Type: access.Public,
			RedirectURIs: []string{spaCallback}, GrantTypes: []string{access.GrantAuthorizationCode},
			Scopes: []string{"openid", "profile", "email"}},
		{ID: m2mID, Name: "Demo machine client", Type: access.Confidential, Secret: m2mSecret,
			GrantTypes: []string{access.GrantClientCredentials}, Scopes: []string{"api.read"}, MachineIdentityID: en.machine.ID},
		{ID: gatewayID, Name: "Demo API gateway", Type: access.Confidential, Secret: gatewaySecret,
			GrantTypes: []string{access.GrantClientCredentials}, Scopes: []string{}, Introspection: true},
		{ID: firstID, Name: "Company intranet", Type: access.Confidential, Secret: firstSecret,
			RedirectURIs: []string{webCallback}, GrantTypes: []string{access.GrantAuthorizationCode, access.GrantRefreshToken},
			Scopes: []string{"openid", "email", "offline_access"}, FirstParty: true},
	} {
		if _, _, err := clients.Apply(ctx, spec); err != nil {
			t.Fatalf("client %s: %v", spec.ID, err)
		}
	}
	// Alice has consented to demo-web before; bob has not.
	if err := consents.SaveConsent(ctx, access.Consent{UserID: en.alice.ID, ClientID: webID,
		Scopes: []string{"openid", "profile", "email", "offline_access"}, GrantedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	return en
}

// sqliteTemplate is a migrated SQLite database that every SQLite env starts from as a
// copy: migrating from zero costs half a second per test under -race, a copy a
// millisecond. (The migrations themselves are tested in identity/sqlstore.)
var sqliteTemplate struct {
	once sync.Once
	dir  string
	err  error
}

// TestMain removes the SQLite template after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if sqliteTemplate.dir != "" {
		_ = os.RemoveAll(sqliteTemplate.dir)
	}
	os.Exit(code)
}

// openDB returns a migrated database of its own on backend b, closed when t ends:
// sqltest.Open for PostgreSQL (a schema per test), a copy of the template for SQLite.
func openDB(t *testing.T, b sqltest.Backend) *sqlstore.DB {
	t.Helper()
	if b != sqltest.SQLite {
		return sqltest.Open(t, b)
	}
	ctx := context.Background()
	tpl := &sqliteTemplate
	tpl.once.Do(func() {
		if tpl.dir, tpl.err = os.MkdirTemp("", "weft-oauth-test-"); tpl.err != nil {
			return
		}
		db, err := sqlstore.Open(ctx, sqlstore.Options{SQLitePath: filepath.Join(tpl.dir, "weft.db")})
		if err != nil {
			tpl.err = err
			return
		}
		_, err = db.Migrate(ctx)
		tpl.err = errors.Join(err, db.Close()) // closing checkpoints the WAL into the file
	})
	if tpl.err != nil {
		t.Fatalf("SQLite template: %v", tpl.err)
	}
	src, err := os.ReadFile(filepath.Join(tpl.dir, "weft.db"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "weft.db")
	if err := os.WriteFile(path, src, 0o600); err != nil {
		t.Fatal(err)
	}
	// The pool settings of sqltest.OpenEmpty.
	db, err := sqlstore.Open(ctx, sqlstore.Options{SQLitePath: path, MaxOpenConns: 10, MaxIdleConns: 2, ConnMaxLifetime: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func forEachBackend(t *testing.T, fn func(t *testing.T, en *env)) {
	for _, b := range sqltest.Backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			fn(t, newEnv(t, b))
		})
	}
}

// at returns en for subtest t: helpers report failures to the test that runs them.
func (en *env) at(t *testing.T) *env {
	c := *en
	c.t = t
	return &c
}

func random(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func (en *env) user(in identity.NewUser) identity.User {
	en.t.Helper()
	u, err := en.dir.CreateUser(context.Background(), in)
	if err != nil {
		en.t.Fatal(err)
	}
	return u
}

// login starts a login session for u, as the login page does after a password check,
// and returns it with the browser's session cookie.
func (en *env) login(u identity.User) (identity.LoginSession, *http.Cookie) {
	en.t.Helper()
	ls, value, err := en.sessions.Start(context.Background(), u, []string{"pwd"}, acr, "127.0.0.1", "test-browser", "")
	if err != nil {
		en.t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	en.cookies.SetSession(rec, value, ls.ExpiresAt)
	return ls, rec.Result().Cookies()[0]
}

// response is a recorded answer.
type response struct {
	code   int
	header http.Header
	body   []byte
}

// json decodes the body as a JSON object (nil if it is not one).
func (r response) json() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(r.body, &m)
	return m
}

// location is the redirect target, nil when there is none.
func (r response) location() *url.URL {
	if r.header.Get("Location") == "" {
		return nil
	}
	u, _ := url.Parse(r.header.Get("Location"))
	return u
}

func (r response) String() string {
	return strings.TrimSpace(http.StatusText(r.code) + " " + r.header.Get("Location") + " " + string(r.body))
}

func (en *env) serve(req *http.Request) response {
	rec := httptest.NewRecorder()
	en.e.ServeHTTP(rec, req)
	return response{code: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// form posts a form to path, with HTTP Basic credentials when id is not empty.
func (en *env) form(path string, form url.Values, id, secret string) response {
	return en.formFrom("", path, form, id, secret)
}

// formFrom is form sent from the address ip (httptest's 192.0.2.1 when empty).
func (en *env) formFrom(ip, path string, form url.Values, id, secret string) response {
	req := httptest.NewRequest(http.MethodPost, issuer+path, strings.NewReader(form.Encode()))
	if ip != "" {
		req.RemoteAddr = net.JoinHostPort(ip, "40000")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	return en.serve(req)
}

// get sends a GET with query q and cookies.
func (en *env) get(path string, q url.Values, cookies ...*http.Cookie) response {
	req := httptest.NewRequest(http.MethodGet, issuer+path+"?"+q.Encode(), nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return en.serve(req)
}

// authQuery is an authorization request of demo-web with PKCE (S256) for verifier.
func authQuery(verifier string) url.Values {
	return url.Values{"client_id": {webID}, "response_type": {"code"}, "redirect_uri": {webCallback},
		"scope": {"openid profile email offline_access"}, "state": {"state-12345678"}, "nonce": {"nonce-12345678"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
}

// code runs the authorization endpoint with a live session and returns the code.
func (en *env) code(q url.Values, session *http.Cookie) string {
	en.t.Helper()
	r := en.get(access.PathAuthorize, q, session)
	loc := r.location()
	if r.code/100 != 3 || loc == nil || loc.Query().Get("code") == "" {
		en.t.Fatalf("authorization: want a redirect with a code, got %s", r)
	}
	return loc.Query().Get("code")
}

// exchange redeems code as demo-web (client_secret_basic).
func (en *env) exchange(code, verifier string) response {
	return en.form(access.PathToken, url.Values{"grant_type": {access.GrantAuthorizationCode}, "code": {code},
		"redirect_uri": {webCallback}, "code_verifier": {verifier}}, webID, webSecret)
}

// tokens is a successful token response.
type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	Scope        string `json:"scope"`
}

func (en *env) decodeTokens(r response) tokens {
	en.t.Helper()
	var tk tokens
	if r.code != http.StatusOK {
		en.t.Fatalf("token endpoint: %s", r)
	}
	if err := json.Unmarshal(r.body, &tk); err != nil {
		en.t.Fatalf("token response %s: %v", r.body, err)
	}
	return tk
}

// signIn runs a whole authorization for alice at demo-web and returns her session and
// tokens.
func (en *env) signIn() (identity.LoginSession, *http.Cookie, tokens) {
	en.t.Helper()
	ls, cookie := en.login(en.alice)
	v := oauth2.GenerateVerifier()
	return ls, cookie, en.decodeTokens(en.exchange(en.code(authQuery(v), cookie), v))
}

// machineToken gets a client_credentials access token for demo-m2m.
func (en *env) machineToken() string {
	en.t.Helper()
	return en.decodeTokens(en.form(access.PathToken, url.Values{"grant_type": {access.GrantClientCredentials},
		"scope": {"api.read"}}, m2mID, m2mSecret)).AccessToken
}

// introspect asks about token with the given caller credentials.
func (en *env) introspect(token, id, secret string) response {
	return en.form(access.PathIntrospect, url.Values{"token": {token}}, id, secret)
}

// active reports whether token is live: what the gateway's introspection says of it,
// or, for a refresh token (which gateways never see active), what its own client's says.
func (en *env) active(token string) bool {
	en.t.Helper()
	r := en.introspect(token, gatewayID, gatewaySecret)
	if r.code != http.StatusOK {
		en.t.Fatalf("introspection: %s", r)
	}
	if r.json()["active"] == true {
		return true
	}
	r = en.introspect(token, webID, webSecret)
	return r.code == http.StatusOK && r.json()["active"] == true && r.json()["token_type"] == "refresh_token"
}

// userinfo calls the UserInfo endpoint with a bearer token (none if empty).
// A token prefixed "query:" is sent as the access_token query parameter instead.
func (en *env) userinfo(token string) response {
	if q, ok := strings.CutPrefix(token, "query:"); ok {
		return en.serve(httptest.NewRequest(http.MethodGet, issuer+access.PathUserinfo+"?access_token="+url.QueryEscape(q), nil))
	}
	req := httptest.NewRequest(http.MethodGet, issuer+access.PathUserinfo, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return en.serve(req)
}

// snapshot reads every table the endpoints write.
func (en *env) snapshot() map[string][]string {
	en.t.Helper()
	return sqltest.Snapshot(en.t, en.db.SQL(), stateTables...)
}

// unchanged fails unless the tables are as in before.
func (en *env) unchanged(t *testing.T, before map[string][]string) {
	t.Helper()
	after := en.snapshot()
	if !reflect.DeepEqual(before, after) {
		for _, table := range stateTables {
			if !reflect.DeepEqual(before[table], after[table]) {
				t.Errorf("%s changed:\nbefore %q\nafter  %q", table, before[table], after[table])
			}
		}
	}
}

// auditKinds lists the kinds of the audit log's entries, in order.
func (en *env) auditKinds() []string {
	en.t.Helper()
	entries, err := en.audit.List(context.Background(), 0, 100)
	if err != nil {
		en.t.Fatal(err)
	}
	var kinds []string
	for _, e := range entries {
		kinds = append(kinds, e.Kind)
	}
	return kinds
}

// wantOAuthError asserts an RFC 6749 error response: status, JSON error code, and no
// token or introspection answer in the body.
func wantOAuthError(t *testing.T, r response, status int, code string) {
	t.Helper()
	body := r.json()
	if r.code != status || body["error"] != code {
		t.Fatalf("got %s, want %d %s", r, status, code)
	}
	for _, k := range []string{"access_token", "refresh_token", "id_token", "active"} {
		if _, ok := body[k]; ok {
			t.Fatalf("an error response carries %q: %s", k, r.body)
		}
	}
}

// syncBuffer is a log sink safe for the handler's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testClock is the wall clock moved forward by Advance.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) add() {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
}

func (c *counter) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// signals records the sessions the revocation service reports ended (revocation.Signals),
// as the SSF transmitter would hear of them.
type signals struct {
	mu    sync.Mutex
	ended []string // sid/initiator
}

func (s *signals) SessionRevoked(_ context.Context, rev revocation.Record, sid, _ string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended = append(s.ended, sid+"/"+rev.Initiator)
	return nil
}

func (s *signals) of(sid string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.ended {
		if strings.HasPrefix(e, sid+"/") {
			out = append(out, e)
		}
	}
	return out
}
