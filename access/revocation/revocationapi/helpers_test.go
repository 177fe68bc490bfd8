package revocationapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
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

// The harness copies access/admin's: a real, migrated database on each backend, the
// real revocation service observed by a real directory, and the real gate over a fake
// token lookup that maps fixed token strings to fosite requests (cmd/weft's end-to-end
// test uses real tokens).

// Bearer tokens every env offers to callers of the API.
const (
	tokSOAR    = "tok-soar"    // client_credentials of soar, weft:revoke
	tokSOAR2   = "tok-soar-2"  // client_credentials of soar-2, weft:revoke
	tokNoScope = "tok-m2m"     // client_credentials of m2m, api.read
	tokRefresh = "tok-refresh" // a refresh token of soar with weft:revoke
	tokUnknown = "tok-unknown" // minted by nobody
)

// node is the fan-out node name of the env's only node.
const node = "test-node"

// bclURI is where the web client wants back-channel logout tokens; nothing is
// delivered in these tests (no outbox worker runs), so the host need not exist.
const bclURI = "https://rp.example/backchannel-logout"

var testParams = password.Params{MemoryKiB: password.MinMemoryKiB, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// storeLookup is the revocation service's token lookup: a token's value is its
// signature in the real token store, so a token selector reaches a real grant.
type storeLookup struct{ grants *fositestore.Store }

func (l storeLookup) IntrospectToken(ctx context.Context, token string, _ fosite.TokenUse, s fosite.Session, _ ...string) (fosite.TokenUse, fosite.AccessRequester, error) {
	r, err := l.grants.GetAccessTokenSession(ctx, token, s)
	if err != nil {
		return "", nil, err
	}
	// The provider answers with an access request; the store keeps the plain request.
	req, ok := r.(*fosite.Request)
	if !ok {
		return "", nil, fmt.Errorf("token store returned %T", r)
	}
	return fosite.AccessToken, &fosite.AccessRequest{Request: *req}, nil
}

// noSignals stands in for the SSF transmitter, which has its own tests.
type noSignals struct{}

func (noSignals) SessionRevoked(context.Context, revocation.Record, string, string) error { return nil }

type env struct {
	t        *testing.T
	e        *echo.Echo
	db       *sqlstore.DB
	dir      *identity.Directory
	clients  *access.Clients
	sessions *identity.Sessions
	grants   *fositestore.Store
	revs     *revocation.Service
	bearer   *gatetest.Tokens
	n        int // fixture counter
}

func newEnv(t *testing.T, b sqltest.Backend) *env {
	return newEnvWithBus(t, b, revocation.LocalBus{})
}

// newEnvWithBus builds the env with bus as the fan-out's bus (a broken one for the
// degraded-fan-out tests).
func newEnvWithBus(t *testing.T, b sqltest.Backend, bus revocation.Bus) *env {
	t.Helper()
	ctx := context.Background()
	db := sqltest.Open(t, b)
	hasher, err := password.NewHasher(testParams)
	if err != nil {
		t.Fatal(err)
	}
	store := sqlstore.NewDirectory(db)
	// The revocation service looks clients up through a registry of its own; the one
	// the tests write through tells it of every disable, as in cmd/weft.
	lookup := access.NewClients(accsql.NewClients(db), store, db, hasher)
	sessions := identity.NewSessions(sqlstore.NewSessions(db), time.Hour)
	grants := fositestore.New(db, accsql.NewClients(db), fositestore.Options{})
	revLog := accsql.NewRevocations(db)
	audit := identity.NewAuditLog(sqlstore.NewAudit(db), db)
	revs, err := revocation.NewService(revocation.Deps{Store: revLog, Grants: grants, Lookup: storeLookup{grants}, Sessions: sessions,
		Subjects: store, Clients: lookup, Tx: db, Fanout: &revocation.Fanout{Node: node, Log: revLog, Bus: bus},
		Audit: audit, Outbox: accsql.NewOutbox(db), Participants: grants, Signals: noSignals{}})
	if err != nil {
		t.Fatal(err)
	}
	dir := identity.NewDirectory(store, db, hasher, revs)
	clients := access.NewClients(accsql.NewClients(db), store, db, hasher, revs)

	// web takes part in login sessions and wants back-channel logout, spa does not; m2m
	// and batch hold client_credentials tokens.
	for _, spec := range []access.ClientSpec{
		{ID: "web", Name: "web", Type: access.Public, RedirectURIs: []string{"http://127.0.0.1:9/cb"},
			GrantTypes: []string{"authorization_code"}, BackchannelLogoutURI: bclURI},
		{ID: "spa", Name: "spa", Type: access.Public, RedirectURIs: []string{"http://127.0.0.1:9/cb"},
			GrantTypes: []string{"authorization_code"}},
		{ID: "m2m", Name: "m2m", Type: access.Confidential, Secret: "m2m-secret-long-enough-123",
			GrantTypes: []string{"client_credentials"}},
		{ID: "batch", Name: "batch", Type: access.Confidential, Secret: "batch-secret-long-enough-123",
			GrantTypes: []string{"client_credentials"}},
	} {
		if _, _, err := clients.Apply(ctx, spec); err != nil {
			t.Fatalf("client %s: %v", spec.ID, err)
		}
	}

	en := &env{t: t, db: db, dir: dir, clients: clients, sessions: sessions, grants: grants, revs: revs,
		bearer: gatetest.NewTokens()}
	en.mint(tokSOAR, "soar", ScopeRevoke)
	en.mint(tokSOAR2, "soar-2", ScopeRevoke)
	en.mint(tokNoScope, "m2m", "api.read")
	en.mint(tokRefresh, "soar", ScopeRevoke)
	en.bearer.AsRefresh(tokRefresh)

	e := httpserver.New(httpserver.Options{Errors: httpserver.IdentityErrors})
	g, err := gate.New(gate.Deps{Tokens: en.bearer, Principals: gate.DirectoryPrincipals{Subjects: store},
		Risk: analytics.NoRisk{}, Policy: policy.AllowAll{}, Events: analytics.Discard{}})
	if err != nil {
		t.Fatal(err)
	}
	(&Handler{Revocations: revs, Gate: g, Users: dir, Clients: clients, Machines: dir, Admins: dir}).Register(e)
	en.e = e
	return en
}

// mint registers a client_credentials bearer token of clientID, as the provider would
// have stored it.
func (en *env) mint(token, clientID string, scopes ...string) {
	en.bearer.Mint(token, clientID, "", "", scopes...)
}

func forEachBackend(t *testing.T, fn func(t *testing.T, en *env)) {
	for _, b := range sqltest.Backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			fn(t, newEnv(t, b))
		})
	}
}

// Fixtures.

// user creates an active user with a unique name.
func (en *env) user(name string) identity.User {
	en.t.Helper()
	en.n++
	u, err := en.dir.CreateUser(context.Background(), identity.NewUser{Username: fmt.Sprintf("%s-%d", name, en.n)})
	if err != nil {
		en.t.Fatal(err)
	}
	return u
}

// device returns a well-formed weft_device id, distinct for each seed.
func device(seed byte) string {
	return base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{seed}, 16))
}

// session starts a login session of u from device, used by clients.
func (en *env) session(u identity.User, dev string, clients ...string) identity.LoginSession {
	en.t.Helper()
	ctx := context.Background()
	ls, _, err := en.sessions.Start(ctx, u, []string{"pwd"}, "", "10.0.0.1", "agent", dev)
	if err != nil {
		en.t.Fatal(err)
	}
	for _, c := range clients {
		if err := en.sessions.Used(ctx, ls, c); err != nil {
			en.t.Fatal(err)
		}
	}
	return ls
}

// token stores an access token (its signature is sig) of client for subject in login
// session sid ("" for none).
func (en *env) token(sig, client, subject, sid string) {
	en.t.Helper()
	ctx := context.Background()
	c, err := en.grants.GetClient(ctx, client)
	if err != nil {
		en.t.Fatal(err)
	}
	r := fosite.NewRequest()
	r.ID, r.Client, r.RequestedAt = "req-"+sig, c, time.Now().UTC()
	r.GrantScope("openid")
	s := access.NewSession(subject, "", sid)
	s.SetExpiresAt(fosite.AccessToken, time.Now().Add(time.Hour))
	r.Session = s
	if err := en.grants.CreateAccessTokenSession(ctx, sig, r); err != nil {
		en.t.Fatal(err)
	}
}

// tokenActive reports whether the access token with signature sig is still live.
func (en *env) tokenActive(sig string) bool {
	en.t.Helper()
	_, err := en.grants.GetAccessTokenSession(context.Background(), sig, access.NewSession("", "", ""))
	if err != nil && !errors.Is(err, fosite.ErrInactiveToken) {
		en.t.Fatalf("token %s: %v", sig, err)
	}
	return err == nil
}

// sessionActive reports whether login session id has not ended.
func (en *env) sessionActive(id string) bool {
	en.t.Helper()
	ls, err := en.sessions.ByID(context.Background(), id)
	if err != nil {
		en.t.Fatalf("session %s: %v", id, err)
	}
	return ls.Active(time.Now())
}

func (en *env) status(userID string) identity.Status {
	en.t.Helper()
	u, err := en.dir.UserByID(context.Background(), userID)
	if err != nil {
		en.t.Fatal(err)
	}
	return u.Status
}

// changeTables are every table a revocation (or a suspension) writes.
var changeTables = []string{"revocations", "revocation_nodes", "audit_log", "outbox", "users", "login_sessions", "oauth_clients", "machine_identities",
	"oauth_access_tokens", "oauth_refresh_tokens", "oauth_authorization_codes"}

// snapshot reads every row a revocation could change.
func (en *env) snapshot() map[string][]string {
	en.t.Helper()
	return sqltest.Snapshot(en.t, en.db.SQL(), changeTables...)
}

// unchanged fails the test unless nothing changed since before.
func (en *env) unchanged(what string, before map[string][]string) {
	en.t.Helper()
	if after := en.snapshot(); !reflect.DeepEqual(before, after) {
		en.t.Fatalf("%s changed the database:\nbefore %v\nafter  %v", what, before, after)
	}
}

// revocations counts the recorded revocations.
func (en *env) revocations() int {
	en.t.Helper()
	var n int
	if err := en.db.SQL().QueryRow(`SELECT COUNT(*) FROM revocations`).Scan(&n); err != nil {
		en.t.Fatal(err)
	}
	return n
}

// HTTP.

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

// request is one call to the API.
type request struct {
	method, path, token string
	auth                string // the Authorization header as is, instead of Bearer token
	body                any    // string or []byte as is, anything else as JSON; nil: no body
	contentType         *string
	key                 string // Idempotency-Key
}

func (en *env) send(rq request) response {
	en.t.Helper()
	var rd io.Reader
	ctype := ""
	switch b := rq.body.(type) {
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
	if rq.contentType != nil {
		ctype = *rq.contentType
	}
	req := httptest.NewRequest(rq.method, rq.path, rd)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if rq.auth != "" {
		req.Header.Set("Authorization", rq.auth)
	} else if rq.token != "" {
		req.Header.Set("Authorization", "Bearer "+rq.token)
	}
	if rq.key != "" {
		req.Header.Set("Idempotency-Key", rq.key)
	}
	rec := httptest.NewRecorder()
	en.e.ServeHTTP(rec, req)
	return response{code: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// post sends POST /api/v1/revocations.
func (en *env) post(token, key string, body any) response {
	en.t.Helper()
	return en.send(request{method: http.MethodPost, path: "/api/v1/revocations", token: token, body: body, key: key})
}

// get sends GET /api/v1/revocations/{id}.
func (en *env) get(token, id string) response {
	en.t.Helper()
	return en.send(request{method: http.MethodGet, path: "/api/v1/revocations/" + id, token: token})
}

// revoke posts body as soar and requires a 201 receipt.
func (en *env) revoke(key string, body any) receipt {
	en.t.Helper()
	r := en.post(tokSOAR, key, body)
	if r.code != http.StatusCreated {
		en.t.Fatalf("revoke %v: status %d: %s", body, r.code, r.body)
	}
	var rc receipt
	r.decode(en.t, &rc)
	if loc := r.header.Get("Location"); rc.ID == "" || loc != "/api/v1/revocations/"+rc.ID {
		en.t.Fatalf("Location %q for receipt %q", loc, rc.ID)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		en.t.Fatalf("Cache-Control %q", cc)
	}
	return rc
}

// The wire format, written out here rather than borrowed from the handler so that a
// renamed field fails these tests.
type receipt struct {
	ID       string `json:"id"`
	Selector struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	} `json:"selector"`
	Reason         string `json:"reason"`
	Suspend        bool   `json:"suspend"`
	Disable        bool   `json:"disable"`
	Actor          string `json:"actor"`
	IdempotencyKey string `json:"idempotency_key"`
	Matched        struct {
		Sessions *int64 `json:"sessions"`
		Tokens   *int64 `json:"tokens"`
	} `json:"matched"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	Nodes     struct {
		Acknowledged []string  `json:"acknowledged"`
		Missing      []string  `json:"missing"`
		Applied      []applied `json:"applied"`
	} `json:"nodes"`
	Deliveries []struct {
		Kind          string     `json:"kind"`
		Target        string     `json:"target"`
		Attempts      int        `json:"attempts"`
		DeliveredAt   *time.Time `json:"delivered_at"`
		NextAttemptAt *time.Time `json:"next_attempt_at"`
		LastError     string     `json:"last_error"`
		FailedAt      *time.Time `json:"failed_at"`
	} `json:"deliveries"`
}

type applied struct {
	Node      string    `json:"node"`
	AppliedAt time.Time `json:"applied_at"`
	Via       string    `json:"via"`
}

// matched returns the receipt's counts, failing if either is absent.
func (rc receipt) matched(t *testing.T) (sessions, tokens int64) {
	t.Helper()
	if rc.Matched.Sessions == nil || rc.Matched.Tokens == nil {
		t.Fatalf("receipt without matched counts: %+v", rc)
	}
	return *rc.Matched.Sessions, *rc.Matched.Tokens
}

// landed fails unless the receipt says the revocation was applied, here, by origin.
func (rc receipt) landed(t *testing.T) {
	t.Helper()
	if rc.Status != "applied" {
		t.Fatalf("status %q, want applied", rc.Status)
	}
	if rc.Nodes.Acknowledged == nil || rc.Nodes.Missing == nil || len(rc.Nodes.Missing) != 0 {
		t.Fatalf("nodes = %+v, want empty lists", rc.Nodes)
	}
	for _, a := range rc.Nodes.Applied {
		if a.Node == node && a.Via == revocation.ViaOrigin && !a.AppliedAt.IsZero() {
			return
		}
	}
	t.Fatalf("nodes.applied = %+v, want %s by origin", rc.Nodes.Applied, node)
}

// problem is a problem+json body.
type problem struct {
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Field     string `json:"field"`
	RequestID string `json:"request_id"`
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
	if p.Status != want || p.Title == "" || p.Detail == "" || p.RequestID == "" {
		t.Fatalf("problem = %+v", p)
	}
	return p
}
