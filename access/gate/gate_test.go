package gate_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/gate"
	"github.com/weft-fabric/weft/access/httpserver"
	"github.com/weft-fabric/weft/analytics"
	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/policy"
)

// tokens is a fake token store: token -> (use, grant).
type tokens map[string]struct {
	use fosite.TokenUse
	ar  fosite.AccessRequester
}

func (t tokens) IntrospectToken(_ context.Context, token string, _ fosite.TokenUse, _ fosite.Session, _ ...string) (fosite.TokenUse, fosite.AccessRequester, error) {
	if token == "broken-store" {
		return "", nil, fosite.ErrServerError.WithWrap(errors.New("database is down"))
	}
	e, ok := t[token]
	if !ok {
		return "", nil, fosite.ErrInactiveToken
	}
	return e.use, e.ar, nil
}

// principals is a fake directory: subject -> principal; unknown subjects are clients.
type principals map[string]policy.Principal

func (p principals) Principal(_ context.Context, subject string) (policy.Principal, error) {
	if subject == "unreachable" {
		return policy.Principal{}, errors.New("database is down")
	}
	if pr, ok := p[subject]; ok {
		return pr, nil
	}
	return policy.Principal{ID: subject, Kind: policy.KindClient, Status: "active"}, nil
}

// decider records what it was asked and answers with d.
type decider struct {
	d   policy.Decision
	err error
	got []policy.Request
}

func (p *decider) Decide(_ context.Context, r policy.Request) (policy.Decision, error) {
	p.got = append(p.got, r)
	return p.d, p.err
}

type scorer struct {
	r   analytics.Risk
	err error
}

func (s scorer) Score(context.Context, analytics.Signal) (analytics.Risk, error) { return s.r, s.err }

type recorder struct {
	mu  sync.Mutex
	evs []analytics.Event
}

func (r *recorder) Record(e analytics.Event) { r.mu.Lock(); r.evs = append(r.evs, e); r.mu.Unlock() }

func grant(client, subject, sid string, scopes ...string) fosite.AccessRequester {
	r := fosite.NewAccessRequest(access.NewSession(subject, "", sid))
	r.Client = &fosite.DefaultClient{ID: client}
	for _, s := range scopes {
		r.GrantScope(s)
	}
	return r
}

func fixture() tokens {
	return tokens{
		"alice-access":  {fosite.AccessToken, grant("web", "alice", "sid-1", "openid", "weft:admin")},
		"alice-refresh": {fosite.RefreshToken, grant("web", "alice", "sid-1", "openid")},
		"carol-access":  {fosite.AccessToken, grant("web", "carol", "sid-2", "openid")},
		"m2m-access":    {fosite.AccessToken, grant("m2m", "m2m", "", "api.read")},
		"lost-subject":  {fosite.AccessToken, grant("web", "unreachable", "", "openid")},
	}
}

var people = principals{
	"alice": {ID: "alice", Kind: policy.KindUser, Status: "active"},
	"carol": {ID: "carol", Kind: policy.KindUser, Status: "suspended"},
}

func newGate(t *testing.T, pol policy.Decider, risk analytics.Scorer, rec analytics.Recorder) *gate.Gate {
	t.Helper()
	g, err := gate.New(gate.Deps{Tokens: fixture(), Principals: people, Risk: risk, Policy: pol, Events: rec})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestNew_RequiresEveryDependency(t *testing.T) {
	full := gate.Deps{Tokens: fixture(), Principals: people, Risk: analytics.NoRisk{}, Policy: policy.AllowAll{}, Events: analytics.Discard{}}
	for _, tc := range []struct {
		name string
		edit func(d *gate.Deps)
	}{
		{"tokens", func(d *gate.Deps) { d.Tokens = nil }},
		{"principals", func(d *gate.Deps) { d.Principals = nil }},
		{"risk", func(d *gate.Deps) { d.Risk = nil }},
		{"policy", func(d *gate.Deps) { d.Policy = nil }},
		{"events", func(d *gate.Deps) { d.Events = nil }},
	} {
		d := full
		tc.edit(&d)
		if _, err := gate.New(d); err == nil {
			t.Errorf("gate.New without %s succeeded", tc.name)
		}
	}
	if _, err := gate.New(full); err != nil {
		t.Fatal(err)
	}
}

func TestCheck(t *testing.T) {
	deny := policy.Decision{Reasons: []policy.Reason{{Code: "risk_high", Message: "Risk is high."}}}
	for _, tc := range []struct {
		name        string
		token       string
		accessOnly  bool
		policy      policy.Decision
		wantErr     bool
		wantActive  bool
		wantAllow   bool
		wantReasons []string
		wantAsked   bool // the policy was consulted
	}{
		{name: "active and allowed", token: "alice-access", policy: policy.Decision{Allow: true}, wantActive: true, wantAllow: true, wantAsked: true},
		{name: "machine token", token: "m2m-access", policy: policy.Decision{Allow: true}, wantActive: true, wantAllow: true, wantAsked: true},
		{name: "unknown token", token: "nope", wantReasons: []string{gate.ReasonTokenInactive}},
		{name: "store down fails closed", token: "broken-store", wantErr: true},
		{name: "refresh token as bearer", token: "alice-refresh", accessOnly: true, wantReasons: []string{gate.ReasonNotAccessToken}},
		{name: "refresh token at introspection", token: "alice-refresh", policy: policy.Decision{Allow: true}, wantActive: true, wantAllow: true, wantAsked: true},
		{name: "suspended subject (a missed revocation)", token: "carol-access", policy: policy.Decision{Allow: true}, wantReasons: []string{gate.ReasonSubjectInactive}},
		{name: "subject unresolvable fails closed", token: "lost-subject", wantErr: true},
		{name: "policy denies with reasons", token: "alice-access", policy: deny, wantActive: true, wantReasons: []string{"risk_high"}, wantAsked: true},
		{name: "policy denies without reasons", token: "alice-access", policy: policy.Decision{}, wantActive: true, wantReasons: []string{gate.ReasonPolicyDenied}, wantAsked: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol, rec := &decider{d: tc.policy}, &recorder{}
			g := newGate(t, pol, scorer{r: analytics.Risk{Score: 42, Level: analytics.LevelMedium, Reasons: []analytics.Reason{{Code: "new_device"}}}}, rec)
			res, err := g.Check(context.Background(), gate.Request{Token: tc.token, AccessTokenOnly: tc.accessOnly,
				Action: policy.ActionAPI, Resource: "admin /users", Application: "payroll", Sensitive: true,
				RouteHost: "pay.example", RoutePath: "/reports", IP: "127.0.0.1", UserAgent: "test"})
			if (err != nil) != tc.wantErr {
				t.Fatalf("Check error = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			var codes []string
			for _, r := range res.Reasons {
				codes = append(codes, r.Code)
			}
			if res.Active != tc.wantActive || res.Allow != tc.wantAllow || !slices.Equal(codes, tc.wantReasons) {
				t.Fatalf("Check = active %v allow %v reasons %v; want %v %v %v", res.Active, res.Allow, codes, tc.wantActive, tc.wantAllow, tc.wantReasons)
			}
			if asked := len(pol.got) > 0; asked != tc.wantAsked {
				t.Fatalf("policy consulted = %v, want %v", asked, tc.wantAsked)
			}
			if !tc.wantAsked {
				if len(rec.evs) != 0 {
					t.Fatalf("an event was recorded for an inactive token: %+v", rec.evs)
				}
				return
			}
			// The policy sees the request flat, with the risk the scorer gave.
			got := pol.got[0]
			if got.Principal.ID == "" || got.RiskScore != 42 || got.RiskLevel != "medium" || !slices.Equal(got.RiskReasons, []string{"new_device"}) ||
				got.Action != policy.ActionAPI || got.Resource != "admin /users" || got.IP != "127.0.0.1" || got.ClientID == "" ||
				got.Application != "payroll" || !got.Sensitive || got.RouteHost != "pay.example" || got.RoutePath != "/reports" {
				t.Fatalf("policy request = %+v", got)
			}
			if len(rec.evs) != 1 || rec.evs[0].Allowed != tc.wantAllow || rec.evs[0].Risk.Score != 42 {
				t.Fatalf("events = %+v", rec.evs)
			}
		})
	}
}

func TestCheck_RiskAndPolicyFailuresFailClosed(t *testing.T) {
	g := newGate(t, policy.AllowAll{}, scorer{err: errors.New("scorer down")}, analytics.Discard{})
	if _, err := g.Check(context.Background(), gate.Request{Token: "alice-access"}); err == nil {
		t.Fatal("a scorer failure gave a decision")
	}
	g = newGate(t, &decider{err: errors.New("policy down")}, analytics.NoRisk{}, analytics.Discard{})
	if _, err := g.Check(context.Background(), gate.Request{Token: "alice-access"}); err == nil {
		t.Fatal("a policy failure gave a decision")
	}
}

func TestCheck_StepUpIsNotAllow(t *testing.T) {
	g := newGate(t, &decider{d: policy.Decision{StepUp: "aal2", Reasons: []policy.Reason{{Code: "step_up", Message: "Sign in again."}}}},
		analytics.NoRisk{}, analytics.Discard{})
	res, err := g.Check(context.Background(), gate.Request{Token: "alice-access"})
	if err != nil || !res.Active || res.Allow || res.StepUp != "aal2" {
		t.Fatalf("Check = %+v, %v", res, err)
	}
}

func TestBearer(t *testing.T) {
	for _, tc := range []struct {
		name       string
		header     string
		query      string
		scopes     []string
		policy     policy.Decision
		wantStatus int
		wantChal   string // part of WWW-Authenticate
		wantDetail string
	}{
		{name: "no token", wantStatus: 401, wantChal: `Bearer realm="weft"`},
		{name: "token in the query is not read", query: "?access_token=alice-access", wantStatus: 401, wantChal: `Bearer realm="weft"`},
		{name: "basic auth is not a bearer token", header: "Basic YWxpY2U6cHc=", wantStatus: 401, wantChal: `Bearer realm="weft"`},
		{name: "malformed", header: "Bearer a b", wantStatus: 401, wantChal: `error="invalid_token"`},
		{name: "unknown token", header: "Bearer nope", wantStatus: 401, wantChal: `error="invalid_token"`},
		{name: "refresh token", header: "Bearer alice-refresh", wantStatus: 401, wantChal: `error="invalid_token"`},
		{name: "suspended subject", header: "Bearer carol-access", wantStatus: 401, wantChal: `error="invalid_token"`, wantDetail: "no longer active"},
		{name: "missing scope", header: "Bearer m2m-access", scopes: []string{"weft:admin:read", "weft:admin"}, policy: policy.Decision{Allow: true},
			wantStatus: 403, wantChal: `error="insufficient_scope", scope="weft:admin:read weft:admin"`},
		{name: "policy denies", header: "Bearer alice-access", scopes: []string{"openid"},
			policy: policy.Decision{Reasons: []policy.Reason{{Code: "risk_high", Message: "Risk is high."}}}, wantStatus: 403, wantDetail: "Risk is high."},
		{name: "allowed", header: "bearer alice-access", scopes: []string{"weft:admin:read", "weft:admin"}, policy: policy.Decision{Allow: true}, wantStatus: 200},
		{name: "allowed without scopes", header: "Bearer m2m-access", policy: policy.Decision{Allow: true}, wantStatus: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGate(t, &decider{d: tc.policy}, analytics.NoRisk{}, analytics.Discard{})
			e := httpserver.New(httpserver.Options{})
			var got gate.Caller
			e.GET("/api", func(c echo.Context) error {
				cl, err := g.Bearer(c, "test", tc.scopes...)
				if err != nil {
					return err
				}
				got = cl
				return c.NoContent(http.StatusOK)
			})
			req := httptest.NewRequest(http.MethodGet, "/api"+tc.query, nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			rr := httptest.NewRecorder()
			e.ServeHTTP(rr, req)
			if rr.Code != tc.wantStatus || !strings.Contains(rr.Header().Get("WWW-Authenticate"), tc.wantChal) ||
				!strings.Contains(rr.Body.String(), tc.wantDetail) {
				t.Fatalf("%d %q %s; want %d %q %q", rr.Code, rr.Header().Get("WWW-Authenticate"), rr.Body, tc.wantStatus, tc.wantChal, tc.wantDetail)
			}
			if strings.Contains(rr.Body.String(), "alice-access") || strings.Contains(rr.Body.String(), "carol-access") {
				t.Fatal("the answer repeats the token")
			}
			if tc.wantStatus == 200 && (got.Subject == "" || got.ClientID == "" || got.Kind == "") {
				t.Fatalf("caller = %+v", got)
			}
		})
	}
}

// countingPrincipals counts lookups and can hold one until released.
type countingPrincipals struct {
	mu     sync.Mutex
	calls  int
	status string
	hold   chan struct{}
	inside chan struct{}
}

func (c *countingPrincipals) Principal(_ context.Context, subject string) (policy.Principal, error) {
	c.mu.Lock()
	c.calls++
	st, hold := c.status, c.hold
	c.mu.Unlock()
	if hold != nil {
		c.inside <- struct{}{}
		<-hold
	}
	return policy.Principal{ID: subject, Kind: policy.KindUser, Status: st}, nil
}

func (c *countingPrincipals) count() int { c.mu.Lock(); defer c.mu.Unlock(); return c.calls }

func TestPrincipalCache(t *testing.T) {
	ctx := context.Background()
	fresh := true
	next := &countingPrincipals{status: string(identity.StatusActive)}
	pc := gate.NewPrincipalCache(next, func() bool { return fresh }, time.Minute, 100)

	lookup := func(want int) {
		t.Helper()
		if _, err := pc.Principal(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		if next.count() != want {
			t.Fatalf("lookups reaching the directory = %d, want %d", next.count(), want)
		}
	}
	lookup(1)
	lookup(1) // served from memory

	pc.Forget("bob", false)
	lookup(1) // another subject's event leaves alice alone
	pc.Forget("alice", false)
	lookup(2) // dropped by its subject's event
	pc.Forget("", true)
	lookup(3) // dropped by a catch-up

	fresh = false
	lookup(4) // a node that is not fresh asks the directory every time
	lookup(5)
	fresh = true
	lookup(5)

	// A suspended principal is never kept: reactivation needs no event.
	next.mu.Lock()
	next.status = string(identity.StatusSuspended)
	next.mu.Unlock()
	pc.Forget("alice", false)
	lookup(6)
	lookup(7)
}

func TestPrincipalCache_Expires(t *testing.T) {
	next := &countingPrincipals{status: "active"}
	pc := gate.NewPrincipalCache(next, func() bool { return true }, time.Nanosecond, 100)
	for i := 1; i <= 3; i++ {
		if _, err := pc.Principal(context.Background(), "alice"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
		if next.count() != i {
			t.Fatalf("after %d lookups the directory saw %d: an expired entry was served", i, next.count())
		}
	}
}

// A lookup that started before a suspension's event and ends after it must not put
// the stale "active" answer back into the cache.
func TestPrincipalCache_LookupRacingAnEventIsNotKept(t *testing.T) {
	ctx := context.Background()
	hold := make(chan struct{})
	next := &countingPrincipals{status: "active", hold: hold, inside: make(chan struct{})}
	pc := gate.NewPrincipalCache(next, func() bool { return true }, time.Minute, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = pc.Principal(ctx, "alice")
	}()
	<-next.inside // the lookup has read "active"
	pc.Forget("alice", false)
	next.mu.Lock()
	next.hold = nil
	next.mu.Unlock()
	close(hold)
	<-done
	if _, err := pc.Principal(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if next.count() != 2 {
		t.Fatalf("the raced lookup was cached: %d lookups reached the directory, want 2", next.count())
	}
}

// A browser session is decided like a token: the subject in good standing, risk and
// policy, with the session's sid and no client or scopes; a suspended user's session is
// not active whatever the policy says.
func TestDecideSession(t *testing.T) {
	pol, rec := &decider{d: policy.Decision{Allow: true}}, &recorder{}
	g := newGate(t, pol, scorer{r: analytics.Risk{Score: 7, Level: analytics.LevelLow}}, rec)
	ctx := context.Background()
	req := gate.Request{Action: "access", Resource: "application:wiki", IP: "127.0.0.1", UserAgent: "test", DeviceID: "dev"}
	res, err := g.DecideSession(ctx, req, "alice", "sid-9")
	if err != nil || !res.Active || !res.Allow || res.Grant != nil || res.Principal.ID != "alice" || res.Risk.Score != 7 {
		t.Fatalf("DecideSession = %+v, %v", res, err)
	}
	got := pol.got[0]
	if got.SessionID != "sid-9" || got.ClientID != "" || len(got.Scopes) != 0 || got.Action != "access" ||
		got.Resource != "application:wiki" || got.DeviceID != "dev" || got.RiskLevel != "low" {
		t.Fatalf("policy request = %+v", got)
	}
	if len(rec.evs) != 1 || rec.evs[0].SessionID != "sid-9" || !rec.evs[0].Allowed {
		t.Fatalf("events = %+v", rec.evs)
	}

	res, err = g.DecideSession(ctx, req, "carol", "sid-2")
	if err != nil || res.Active || res.Allow || len(res.Reasons) != 1 || res.Reasons[0].Code != gate.ReasonSubjectInactive {
		t.Fatalf("suspended subject: %+v, %v", res, err)
	}
	if _, err := g.DecideSession(ctx, req, "unreachable", "sid-3"); err == nil {
		t.Fatal("an unresolvable subject gave a decision")
	}
	if _, err := g.DecideSession(ctx, req, "alice", ""); err == nil {
		t.Fatal("a decision without a session id")
	}
	deny := &decider{d: policy.Decision{StepUp: "aal2", Reasons: []policy.Reason{{Code: "step_up", Message: "Sign in again."}}}}
	g = newGate(t, deny, analytics.NoRisk{}, analytics.Discard{})
	if res, err := g.DecideSession(ctx, req, "alice", "sid-9"); err != nil || !res.Active || res.Allow || res.StepUp != "aal2" {
		t.Fatalf("step-up: %+v, %v", res, err)
	}
}
