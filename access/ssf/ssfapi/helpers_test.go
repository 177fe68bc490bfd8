package ssfapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/gate"
	"github.com/weft-fabric/weft/access/gate/gatetest"
	"github.com/weft-fabric/weft/access/httpserver"
	"github.com/weft-fabric/weft/access/keys"
	"github.com/weft-fabric/weft/access/outbound"
	accsql "github.com/weft-fabric/weft/access/sqlstore"
	"github.com/weft-fabric/weft/access/ssf"
	"github.com/weft-fabric/weft/analytics"
	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/password"
	"github.com/weft-fabric/weft/identity/sqlstore"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
	"github.com/weft-fabric/weft/policy"
)

// The harness copies access/admin's: a real, migrated database on each backend, the
// real transmitter over the SQL stream store and outbox, and the real gate over a fake
// token lookup that maps fixed token strings to fosite requests (cmd/weft's end-to-end
// tests use real tokens and real signatures).

const issuer = "https://id.example"

// Bearer tokens every env offers.
const (
	tokA       = "tok-rcv-a"   // client_credentials of receiver rcv-a, weft:ssf
	tokB       = "tok-rcv-b"   // client_credentials of receiver rcv-b, weft:ssf
	tokNoScope = "tok-m2m"     // client_credentials of m2m, api.read
	tokRefresh = "tok-refresh" // a refresh token of rcv-a with weft:ssf
	tokUnknown = "tok-unknown" // minted by nobody
)

// Receivers' client ids (streams reference their clients).
const (
	rcvA = "rcv-a"
	rcvB = "rcv-b"
)

// pushURL is a push receiver's endpoint; nothing is delivered in these tests (no outbox
// worker runs, and the transmitter's HTTP client refuses every request).
const pushURL = "https://rp.example/ssf/events"

// Event types, spelled out so that a renamed constant fails the tests.
const (
	evSessionRevoked   = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
	evCredentialChange = "https://schemas.openid.net/secevent/caep/event-type/credential-change"
	evClaimsChange     = "https://schemas.openid.net/secevent/caep/event-type/token-claims-change"
	evAccountDisabled  = "https://schemas.openid.net/secevent/risc/event-type/account-disabled"
	evAccountEnabled   = "https://schemas.openid.net/secevent/risc/event-type/account-enabled"
	evVerification     = "https://schemas.openid.net/secevent/ssf/event-type/verification"
	evStreamUpdated    = "https://schemas.openid.net/secevent/ssf/event-type/stream-updated"
	methodPush         = "urn:ietf:rfc:8935"
	methodPoll         = "urn:ietf:rfc:8936"
)

var supported = []string{evSessionRevoked, evCredentialChange, evAccountDisabled, evAccountEnabled, evVerification, evStreamUpdated}

// longPoll is the transmitter's long-poll bound: short, so the one test that waits
// for it stays fast.
const longPoll = 300 * time.Millisecond

// fakeSign stands in for the provider's ES256 signer (SET signing is tested in
// access/ssf and cmd/weft): a compact JWS whose payload is the claims and whose
// signature is fixed, so tests can read what was queued.
func fakeSign(_ context.Context, claims map[string]any, typ string) (string, error) {
	if typ != "secevent+jwt" {
		return "", fmt.Errorf("typ %q", typ)
	}
	b, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	return "eyJhbGciOiJFUzI1NiIsInR5cCI6InNlY2V2ZW50K2p3dCJ9." + base64.RawURLEncoding.EncodeToString(b) + ".ZmFrZS1zaWduYXR1cmU", nil
}

// noNetwork fails every request: nothing in these tests may leave the process.
type noNetwork struct{}

func (noNetwork) RoundTrip(r *http.Request) (*http.Response, error) {
	return nil, errors.New("ssfapi tests make no network calls: " + r.URL.String())
}

// fakeDNS stands in for DNS: receivers' hosts resolve to a public address (never
// dialled), the attacker's to internal ones.
var fakeDNS = resolverMap{
	"rp.example": {"93.184.215.14"}, "evil.example": {"93.184.215.14"},
	"internal.example": {"10.0.0.1"}, "metadata.example": {"169.254.169.254"}, "ula.example": {"fd00::1"},
	"loopback.example": {"127.0.0.1"},
}

type resolverMap map[string][]string

func (m resolverMap) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, a := range m[host] {
		out = append(out, netip.MustParseAddr(a))
	}
	if len(out) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return out, nil
}

func noDial(_ context.Context, _, address string) (net.Conn, error) {
	return nil, errors.New("ssfapi tests make no network calls: " + address)
}

type env struct {
	t      *testing.T
	e      *echo.Echo
	db     *sqlstore.DB
	tr     *ssf.Transmitter
	tokens *gatetest.Tokens
	dir    *identity.Directory
}

func newEnv(t *testing.T, b sqltest.Backend) *env {
	t.Helper()
	ctx := context.Background()
	db := sqltest.Open(t, b)
	hasher, err := password.NewHasher(password.Params{MemoryKiB: password.MinMemoryKiB, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	store := sqlstore.NewDirectory(db)
	clients := access.NewClients(accsql.NewClients(db), store, db, hasher)
	for _, id := range []string{rcvA, rcvB} {
		if _, _, err := clients.Apply(ctx, access.ClientSpec{ID: id, Name: id, Type: access.Confidential,
			Secret: id + "-secret-long-enough", GrantTypes: []string{"client_credentials"}, Scopes: []string{ssf.Scope}}); err != nil {
			t.Fatalf("client %s: %v", id, err)
		}
	}
	tr := &ssf.Transmitter{Issuer: issuer, Streams: accsql.NewStreams(db), Queue: accsql.NewOutbox(db), Tx: db,
		LongPoll: longPoll, Sign: fakeSign, Client: &http.Client{Transport: noNetwork{}},
		// The issuer https://id.example is not on loopback; names resolve through
		// fakeDNS, and the guard never dials (Client above makes no calls).
		URLs:    outbound.New(outbound.Policy{}, outbound.Options{Resolver: fakeDNS, Dial: noDial}),
		Secrets: newSecretBox(t),
		// The tests verify freely; TestSSF_VerifyRateLimit puts the real limit back.
		VerifyLimit: ssf.NewLocalLimiter(time.Millisecond, 1000)}

	en := &env{t: t, db: db, tr: tr, tokens: gatetest.NewTokens()}
	en.mint(tokA, rcvA, ssf.Scope)
	en.mint(tokB, rcvB, ssf.Scope)
	en.mint(tokNoScope, "m2m", "api.read")
	en.mint(tokRefresh, rcvA, ssf.Scope)
	en.tokens.AsRefresh(tokRefresh)

	e := httpserver.New(httpserver.Options{Errors: httpserver.IdentityErrors})
	g, err := gate.New(gate.Deps{Tokens: en.tokens, Principals: gate.DirectoryPrincipals{Subjects: store},
		Risk: analytics.NoRisk{}, Policy: policy.AllowAll{}, Events: analytics.Discard{}})
	if err != nil {
		t.Fatal(err)
	}
	dir := identity.NewDirectory(store, db, hasher)
	en.dir = dir
	(&Handler{Transmitter: tr, Gate: g, Admins: dir}).Register(e)
	en.e = e
	return en
}

// mint registers a client_credentials token of clientID.
func (en *env) mint(token, clientID string, scopes ...string) {
	en.tokens.Mint(token, clientID, "", "", scopes...)
}

func forEachBackend(t *testing.T, fn func(t *testing.T, en *env)) {
	for _, b := range sqltest.Backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			fn(t, newEnv(t, b))
		})
	}
}

// HTTP.

type response struct {
	code   int
	header http.Header
	body   []byte
}

func (r response) String() string { return fmt.Sprintf("%d %s", r.code, r.body) }

// decode decodes r's body into v, zeroed first: a member the answer leaves out must not
// keep an earlier answer's value.
func (r response) decode(t *testing.T, v any) {
	t.Helper()
	reflect.ValueOf(v).Elem().SetZero()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// call sends a request as token ("" for none); a non-empty body is sent as
// application/json, or as ctype when that is not nil.
func (en *env) call(method, path, token, body string, ctype ...string) response {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	switch {
	case len(ctype) > 0:
		if ctype[0] != "" {
			req.Header.Set("Content-Type", ctype[0])
		}
	case body != "":
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	en.e.ServeHTTP(rec, req)
	return response{code: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// ok fails t unless r has status want, and decodes it into v (unless nil).
func ok(t *testing.T, r response, want int, v any) {
	t.Helper()
	if r.code != want {
		t.Fatalf("status %d, want %d: %s", r.code, want, r.body)
	}
	if v != nil {
		r.decode(t, v)
	}
}

// The wire format, written out here so that a renamed field fails these tests.
type streamConfig struct {
	StreamID string `json:"stream_id"`
	Iss      string `json:"iss"`
	Aud      string `json:"aud"`
	Delivery struct {
		Method      string `json:"method"`
		EndpointURL string `json:"endpoint_url"`
	} `json:"delivery"`
	EventsSupported []string `json:"events_supported"`
	EventsRequested []string `json:"events_requested"`
	EventsDelivered []string `json:"events_delivered"`
	Description     string   `json:"description"`
	DefaultSubjects string   `json:"default_subjects"`
}

type statusAnswer struct {
	StreamID string `json:"stream_id"`
	Status   string `json:"status"`
	Reason   string `json:"reason"`
}

type pollAnswer struct {
	Sets          map[string]string `json:"sets"`
	MoreAvailable bool              `json:"moreAvailable"`
}

// create makes a stream for token's client and requires 201.
func (en *env) create(t *testing.T, token, body string) streamConfig {
	t.Helper()
	var s streamConfig
	r := en.call(http.MethodPost, "/ssf/stream", token, body)
	ok(t, r, http.StatusCreated, &s)
	if s.StreamID == "" || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("created %s (Cache-Control %q)", r.body, r.header.Get("Cache-Control"))
	}
	return s
}

func pollStream(description string, events ...string) string {
	ev, _ := json.Marshal(events)
	return `{"delivery":{"method":"` + methodPoll + `"},"events_requested":` + string(ev) + `,"description":"` + description + `"}`
}

// poll polls stream id as token and requires 200.
func (en *env) poll(t *testing.T, token, id, body string) pollAnswer {
	t.Helper()
	var p pollAnswer
	ok(t, en.call(http.MethodPost, "/ssf/poll/"+id, token, body), http.StatusOK, &p)
	if p.Sets == nil {
		t.Fatal(`poll answer without "sets"`)
	}
	return p
}

// set is one SET as fakeSign made it.
type set struct {
	Iss    string                    `json:"iss"`
	Aud    string                    `json:"aud"`
	Jti    string                    `json:"jti"`
	Iat    int64                     `json:"iat"`
	Txn    string                    `json:"txn"`
	SubID  map[string]any            `json:"sub_id"`
	Events map[string]map[string]any `json:"events"`
}

// event returns the SET's only event.
func (s set) event(t *testing.T) (string, map[string]any) {
	t.Helper()
	if len(s.Events) != 1 {
		t.Fatalf("events = %v, want exactly one", s.Events)
	}
	for typ, body := range s.Events {
		return typ, body
	}
	return "", nil
}

func parseSET(t *testing.T, compact string) set {
	t.Helper()
	parts := strings.Split(compact, ".")
	if len(parts) != 3 || parts[2] != "ZmFrZS1zaWduYXR1cmU" {
		t.Fatalf("not a SET from the signer: %q", compact)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var s set
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// sets parses every SET of a poll answer, checking that each is keyed by its jti.
func (p pollAnswer) sets(t *testing.T) []set {
	t.Helper()
	var out []set
	for jti, compact := range p.Sets {
		s := parseSET(t, compact)
		if s.Jti != jti {
			t.Fatalf("SET %s under key %s", s.Jti, jti)
		}
		out = append(out, s)
	}
	return out
}

// problem is a problem+json body.
type problem struct {
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Field     string `json:"field"`
	RequestID string `json:"request_id"`
}

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

// Database.

// snapshot reads every stream and queued SET.
func (en *env) snapshot(t *testing.T) map[string][]string {
	t.Helper()
	return sqltest.Snapshot(t, en.db.SQL(), "ssf_streams", "outbox")
}

func (en *env) unchanged(t *testing.T, what string, before map[string][]string) {
	t.Helper()
	if after := en.snapshot(t); !reflect.DeepEqual(before, after) {
		t.Fatalf("%s changed the database:\nbefore %v\nafter  %v", what, before, after)
	}
}

// queued is one outbox row of a stream.
type queued struct {
	ID, Kind, Target, LastError string
	Attempts                    int
	Delivered, Failed           bool
}

// queue lists stream id's outbox rows, oldest first.
func (en *env) queue(t *testing.T, id string) []queued {
	t.Helper()
	rows, err := en.db.SQL().Query(`SELECT id, kind, target, last_error, attempts, delivered_at IS NOT NULL, failed_at IS NOT NULL
		FROM outbox WHERE stream_id = $1 ORDER BY created_at, id`, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []queued
	for rows.Next() {
		var q queued
		if err := rows.Scan(&q.ID, &q.Kind, &q.Target, &q.LastError, &q.Attempts, &q.Delivered, &q.Failed); err != nil {
			t.Fatal(err)
		}
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// authorizationHeader reads a push stream's stored (write-only) authorization header.
// authorizationHeader returns the stream's stored authorization header, decrypted; it
// fails the test if the header is stored in clear (issue 9, L5).
func (en *env) authorizationHeader(t *testing.T, id string) string {
	t.Helper()
	inClear, sealed := en.storedHeader(t, id)
	if inClear != "" {
		t.Fatalf("authorization header stored in clear: %q", inClear)
	}
	if len(sealed) == 0 {
		return ""
	}
	h, err := en.tr.Secrets.Open(sealed, id)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// storedHeader reads the stream's two header columns as they are in the database.
func (en *env) storedHeader(t *testing.T, id string) (inClear string, sealed []byte) {
	t.Helper()
	if err := en.db.SQL().QueryRow(`SELECT authorization_header, authorization_sealed FROM ssf_streams WHERE id = $1`, id).
		Scan(&inClear, &sealed); err != nil {
		t.Fatal(err)
	}
	return inClear, sealed
}

func newSecretBox(t *testing.T) *keys.SecretBox {
	t.Helper()
	kek := make([]byte, 32)
	if _, err := rand.Read(kek); err != nil {
		t.Fatal(err)
	}
	box, err := keys.NewSecretBox(kek, "ssf authorization header")
	if err != nil {
		t.Fatal(err)
	}
	return box
}

func (en *env) streams(t *testing.T) int {
	t.Helper()
	var n int
	if err := en.db.SQL().QueryRow(`SELECT COUNT(*) FROM ssf_streams`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
