package admin

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/fositestore"
	"github.com/weft-fabric/weft/access/gate"
	"github.com/weft-fabric/weft/access/gate/gatetest"
	"github.com/weft-fabric/weft/access/httpserver"
	"github.com/weft-fabric/weft/access/revocation"
	accsql "github.com/weft-fabric/weft/access/sqlstore"
	"github.com/weft-fabric/weft/analytics"
	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/password"
	"github.com/weft-fabric/weft/identity/sqlstore"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
	"github.com/weft-fabric/weft/policy"
)

// env is the API over a real, migrated database, plus tokens minted by the fake.
type env struct {
	t       *testing.T
	e       *echo.Echo
	db      *sqlstore.DB
	dir     *identity.Directory
	clients *access.Clients
	// tokens stands in for the OAuth provider: the token check is not what these tests
	// are about (cmd/weft's end-to-end test uses real tokens); the directory is real.
	tokens *gatetest.Tokens
	root   identity.User // in weft-admins
	plain  identity.User // in no group

	sessions *identity.Sessions
	grants   *fositestore.Store
	revs     *revocation.Service
	apps     *identity.Applications
	routes   *access.Routes
}

// Tokens every env offers.
const (
	tokAdmin     = "tok-m2m-admin"  // client_credentials, weft:admin
	tokRead      = "tok-m2m-read"   // client_credentials, weft:admin:read
	tokNoScope   = "tok-m2m-none"   // client_credentials, api.read
	tokUserAdmin = "tok-user-admin" // root's login session, weft:admin
	tokUserPlain = "tok-user-plain" // a user outside weft-admins, weft:admin
	tokRefresh   = "tok-refresh"    // a refresh token with weft:admin
)

var testParams = password.Params{MemoryKiB: password.MinMemoryKiB, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func newEnv(t *testing.T, b sqltest.Backend) *env {
	t.Helper()
	db := sqltest.Open(t, b)
	hasher, err := password.NewHasher(testParams)
	if err != nil {
		t.Fatal(err)
	}
	store := sqlstore.NewDirectory(db)
	// The revocation service looks clients up through a registry of its own; the one
	// the API writes through tells it of every disable and rotation, as in cmd/weft.
	lookup := access.NewClients(accsql.NewClients(db), store, db, hasher)
	// Sessions and revocations are real: the admin API revokes through them, and the
	// directory tells the revocation service of status changes.
	sessions := identity.NewSessions(sqlstore.NewSessions(db), time.Hour)
	grants := fositestore.New(db, accsql.NewClients(db), fositestore.Options{})
	revLog := accsql.NewRevocations(db)
	audit := sqltest.AuditLog(t, db)
	revs, err := revocation.NewService(revocation.Deps{Store: revLog, Grants: grants, Lookup: noTokens{}, Sessions: sessions,
		Subjects: store, Clients: lookup, Tx: db, Fanout: &revocation.Fanout{Node: "test", Log: revLog, Bus: revocation.LocalBus{}},
		Audit: audit, Outbox: accsql.NewOutbox(db), Participants: grants, Signals: noSignals{}})
	if err != nil {
		t.Fatal(err)
	}
	dir := identity.NewDirectory(store, db, hasher, revs)
	clients := access.NewClients(accsql.NewClients(db), store, db, hasher, revs)
	ctx := context.Background()
	boot, err := dir.EnsureBootstrapAdmin(ctx, "root", "root-password-123")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := dir.CreateUser(ctx, identity.NewUser{Username: "plain", Email: "plain@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	en := &env{t: t, db: db, dir: dir, clients: clients, root: boot.User, plain: plain,
		tokens: gatetest.NewTokens()}
	en.mint(tokAdmin, "script", "script", "", ScopeAdmin)
	en.mint(tokRead, "reader", "reader", "", ScopeAdminRead)
	en.mint(tokNoScope, "m2m", "m2m", "", "api.read")
	en.mint(tokUserAdmin, "console", boot.User.ID, "sid-1", "openid", ScopeAdmin)
	en.mint(tokUserPlain, "console", plain.ID, "sid-2", "openid", ScopeAdmin)
	en.mint(tokRefresh, "console", boot.User.ID, "sid-1", ScopeAdmin)
	en.tokens.AsRefresh(tokRefresh)

	e := httpserver.New(httpserver.Options{Errors: httpserver.IdentityErrors})
	en.sessions, en.grants, en.revs = sessions, grants, revs
	// The real gate over faked token lookups: subjects, risk and policy as in production.
	g, err := gate.New(gate.Deps{Tokens: en.tokens, Principals: gate.DirectoryPrincipals{Subjects: store},
		Risk: analytics.NoRisk{}, Policy: policy.AllowAll{}, Events: analytics.Discard{}})
	if err != nil {
		t.Fatal(err)
	}
	en.apps = identity.NewApplications(sqlstore.NewApplications(db), db)
	en.routes = access.NewRoutes(accsql.NewRoutes(db), en.apps)
	h, err := New(Handler{Directory: dir, Clients: clients, Gate: g, Audit: audit,
		Sessions: en.sessions, SessionTokens: en.grants, Revocations: revs, Applications: en.apps, Routes: en.routes})
	if err != nil {
		t.Fatal(err)
	}
	h.Register(e)
	en.e = e
	return en
}

// mint registers a token as the provider would have stored it.
func (en *env) mint(token, clientID, subject, sid string, scopes ...string) {
	en.tokens.Mint(token, clientID, subject, sid, scopes...)
}

func forEachBackend(t *testing.T, fn func(t *testing.T, en *env)) {
	for _, b := range sqltest.Backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			fn(t, newEnv(t, b))
		})
	}
}

// response is a recorded answer.
type response struct {
	code   int
	header http.Header
	body   []byte
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// problem is a problem+json body.
type problem struct {
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Field     string `json:"field"`
	RequestID string `json:"request_id"`
}

// do sends a request with token (none if empty). A body that is not a string or
// []byte is sent as JSON.
func (en *env) do(method, path, token string, body any) response {
	en.t.Helper()
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ctype = strings.NewReader(b), "application/json"
	case []byte:
		rd, ctype = bytes.NewReader(b), "application/json"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			en.t.Fatal(err)
		}
		rd, ctype = bytes.NewReader(j), "application/json"
	}
	req := httptest.NewRequest(method, path, rd)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return en.send(req)
}

func (en *env) send(req *http.Request) response {
	rec := httptest.NewRecorder()
	en.e.ServeHTTP(rec, req)
	return response{code: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// ok fails the test unless the answer has status want, and decodes it into v.
func (en *env) ok(want int, r response, v any) {
	en.t.Helper()
	if r.code != want {
		en.t.Fatalf("status %d, want %d: %s", r.code, want, r.body)
	}
	if v != nil {
		r.decode(en.t, v)
	}
}

// problemOf asserts a problem+json answer with status want.
func problemOf(t *testing.T, r response, want int) problem {
	t.Helper()
	if r.code != want {
		t.Fatalf("status %d, want %d: %s", r.code, want, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json (%s)", ct, r.body)
	}
	var p problem
	r.decode(t, &p)
	if p.Status != want || p.Title == "" || p.RequestID == "" {
		t.Fatalf("problem = %+v", p)
	}
	return p
}

// snapshot reads every directory and client row, to show that a refused request
// wrote nothing.
func snapshot(t *testing.T, db *sql.DB) map[string][]string {
	return sqltest.Snapshot(t, db, sqltest.DirectoryTables...)
}

func equalSnap(a, b map[string][]string) bool { return reflect.DeepEqual(a, b) }

// noSignals stands in for the SSF transmitter, which has its own tests.
type noSignals struct{}

func (noSignals) SessionRevoked(context.Context, revocation.Record, string, string) error { return nil }

// noTokens finds no token: the admin API never revokes by token.
type noTokens struct{}

func (noTokens) IntrospectToken(context.Context, string, fosite.TokenUse, fosite.Session, ...string) (fosite.TokenUse, fosite.AccessRequester, error) {
	return "", nil, fosite.ErrNotFound
}
