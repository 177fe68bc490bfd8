package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/gate"
	"github.com/weft-fabric/weft/access/gate/gatetest"
	"github.com/weft-fabric/weft/access/gateway"
	"github.com/weft-fabric/weft/access/httpserver"
	"github.com/weft-fabric/weft/access/websession"
	"github.com/weft-fabric/weft/analytics"
	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/policy"
)

// The test proxy's address: httptest requests come from 192.0.2.1 (no traffic is sent).
const (
	proxyIP   = "192.0.2.1"
	issuer    = "https://weft.example.com"
	appHost   = "app.example.com"
	tokAlice  = "tok-alice"
	tokMachin = "tok-machine"
	tokCarol  = "tok-carol"
	tokRefr   = "tok-refresh"
	cookieOK  = "sid-alice.secret"
	cookieOld = "sid-ended.secret"
	cookieSus = "sid-carol.secret"
)

type people map[string]policy.Principal

func (p people) Principal(_ context.Context, subject string) (policy.Principal, error) {
	if subject == "broken" {
		return policy.Principal{}, errors.New("database is down")
	}
	if pr, ok := p[subject]; ok {
		return pr, nil
	}
	return policy.Principal{ID: subject, Kind: policy.KindClient, Status: "active"}, nil
}

// byResource is the test policy: payroll is denied, secret asks for step-up, the rest
// is allowed; it records what it was asked.
type byResource struct{ got []policy.Request }

func (b *byResource) Decide(_ context.Context, r policy.Request) (policy.Decision, error) {
	b.got = append(b.got, r)
	switch r.Resource {
	case "application:payroll":
		return policy.Decision{Reasons: []policy.Reason{{Code: "not_in_finance", Message: "Payroll is for the finance team."}}}, nil
	case "application:secret":
		return policy.Decision{StepUp: "aal2", Reasons: []policy.Reason{{Code: "risk_medium", Message: "Sign in again."}}}, nil
	}
	return policy.Decision{Allow: true}, nil
}

type sessions map[string]identity.LoginSession

func (s sessions) Resume(_ context.Context, cookie string) (identity.LoginSession, error) {
	if ls, ok := s[cookie]; ok {
		return ls, nil
	}
	return identity.LoginSession{}, identity.ErrNoSession
}

type profiles map[string]gateway.Profile

func (p profiles) Profile(_ context.Context, id string) (gateway.Profile, error) {
	if pr, ok := p[id]; ok {
		return pr, nil
	}
	return gateway.Profile{}, identity.ErrNotFound
}

// browsers says a browser with the cookie cookieOK is signed in.
type browsers struct{}

func (browsers) Live(_ context.Context, r *http.Request) (identity.LoginSession, identity.User, bool) {
	if ck, err := r.Cookie("weft_session"); err == nil && ck.Value == cookieOK {
		return identity.LoginSession{ID: "sid-alice", UserID: "alice"}, identity.User{ID: "alice"}, true
	}
	return identity.LoginSession{}, identity.User{}, false
}

type env struct {
	e      http.Handler
	policy *byResource
	logs   *bytes.Buffer
}

func newEnv(t testing.TB) *env {
	t.Helper()
	logs := &bytes.Buffer{}
	return newEnvLogging(t, logs, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
}

// newEnvLogging builds the env with log (the benchmark discards it).
func newEnvLogging(t testing.TB, logs *bytes.Buffer, log *slog.Logger) *env {
	t.Helper()
	toks := gatetest.NewTokens()
	toks.Mint(tokAlice, "web", "alice", "sid-alice", "openid")
	toks.Mint(tokMachin, "m2m", "ci-runner", "", "api.read")
	toks.Mint(tokCarol, "web", "carol", "sid-carol", "openid")
	toks.Mint(tokRefr, "web", "alice", "sid-alice", "openid")
	toks.AsRefresh(tokRefr)
	pol := &byResource{}
	g, err := gate.New(gate.Deps{Tokens: toks, Principals: people{
		"alice":     {ID: "alice", Kind: policy.KindUser, Status: "active"},
		"carol":     {ID: "carol", Kind: policy.KindUser, Status: "suspended"},
		"ci-runner": {ID: "ci-runner", Kind: policy.KindMachine, Status: "active"},
	}, Risk: fixedRisk{}, Policy: pol, Events: analytics.Discard{}})
	if err != nil {
		t.Fatal(err)
	}
	src := &source{
		apps: []identity.Application{{ID: "site", Name: "Site"}, {ID: "payroll", Name: "Payroll", Sensitive: true}, {ID: "secret", Name: "Secret"}},
		routes: []access.Route{
			route(appHost, "/wiki", "site"), route(appHost, "/payroll", "payroll"), route(appHost, "/secret", "secret"),
			route("127.0.0.1", "/wiki", "site"),
		},
	}
	tab := gateway.NewRouteTable(routeSource{src}, appSource{src}, nil)
	if err := tab.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	trusted := []netip.Prefix{netip.MustParsePrefix(proxyIP + "/32")}
	h, err := gateway.New(gateway.Handler{Gate: g, Routes: tab, Cookies: websession.Cookies{}, Browser: browsers{},
		Sessions: sessions{
			cookieOK:  {ID: "sid-alice", UserID: "alice"},
			cookieSus: {ID: "sid-carol", UserID: "carol"},
		},
		Profiles:       profiles{"alice": {Username: "alice", Email: "alice@example.com", Groups: []string{"engineering", "R&D, Zürich"}}},
		TrustedProxies: trusted, Issuer: issuer + "/", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e := httpserver.New(httpserver.Options{TrustedProxies: trusted, Errors: httpserver.IdentityErrors, Logger: log})
	h.Register(e)
	return &env{e: e, policy: pol, logs: logs}
}

type fixedRisk struct{}

func (fixedRisk) Score(context.Context, analytics.Signal) (analytics.Risk, error) {
	return analytics.Risk{Score: 12, Level: analytics.LevelLow}, nil
}

// ask sends a Caddy-style forward-auth request for uri on appHost.
func (en *env) ask(uri string, edit func(r *http.Request)) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, gateway.PathAuthz, nil)
	r.Header.Set("X-Forwarded-Method", http.MethodGet)
	r.Header.Set("X-Forwarded-Proto", "https")
	r.Header.Set("X-Forwarded-Host", appHost)
	r.Header.Set("X-Forwarded-Uri", uri)
	r.Header.Set("X-Forwarded-For", "203.0.113.9")
	r.Header.Set("User-Agent", "test-browser")
	if edit != nil {
		edit(r)
	}
	rec := httptest.NewRecorder()
	en.e.ServeHTTP(rec, r)
	return rec
}

func bearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func cookie(v string) func(*http.Request) {
	return func(r *http.Request) {
		r.AddCookie(&http.Cookie{Name: "weft_session", Value: v})
		r.Header.Set("Accept", "text/html,application/xhtml+xml")
	}
}

func pageRequest(r *http.Request) {
	r.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
}

func both(fs ...func(*http.Request)) func(*http.Request) {
	return func(r *http.Request) {
		for _, f := range fs {
			f(r)
		}
	}
}

func TestAuthz(t *testing.T) {
	loginFor := func(uri string, again bool) string {
		u := issuer + gateway.PathLogin + "?rd=" + url.QueryEscape("https://"+appHost+uri)
		if again {
			u += "&prompt=login"
		}
		return u
	}
	for _, tc := range []struct {
		name       string
		uri        string
		edit       func(*http.Request)
		status     int
		reason     string
		login      string            // X-Weft-Login, "" = absent
		challenge  string            // part of WWW-Authenticate
		headers    map[string]string // identity headers on 200
		askedScope string            // the resource the policy was asked about
	}{
		{name: "bearer allowed", uri: "/wiki/page?x=1", edit: bearer(tokAlice), status: 200, askedScope: "application:site",
			headers: map[string]string{gateway.HeaderSubject: "alice", gateway.HeaderUser: "alice", gateway.HeaderEmail: "alice@example.com",
				gateway.HeaderGroups: "engineering,R&D%2C Z%C3%BCrich", gateway.HeaderRisk: "score=12, level=low"}},
		{name: "machine token allowed, no person headers", uri: "/wiki", edit: bearer(tokMachin), status: 200,
			headers: map[string]string{gateway.HeaderSubject: "ci-runner", gateway.HeaderUser: "", gateway.HeaderEmail: "", gateway.HeaderGroups: ""}},
		{name: "session cookie allowed", uri: "/wiki/", edit: cookie(cookieOK), status: 200, askedScope: "application:site",
			headers: map[string]string{gateway.HeaderSubject: "alice", gateway.HeaderUser: "alice"}},
		{name: "bearer wins over the cookie", uri: "/wiki", edit: both(cookie(cookieOK), bearer(tokMachin)), status: 200,
			headers: map[string]string{gateway.HeaderSubject: "ci-runner"}},
		{name: "revoked or unknown token", uri: "/wiki", edit: both(pageRequest, bearer("tok-revoked")), status: 401,
			reason: gate.ReasonTokenInactive, challenge: `error="invalid_token"`},
		{name: "malformed Authorization", uri: "/wiki", edit: func(r *http.Request) { r.Header.Set("Authorization", "Bearer a b") },
			status: 401, reason: gateway.ReasonInvalidToken, challenge: `error="invalid_token"`},
		{name: "refresh token is no bearer token", uri: "/wiki", edit: bearer(tokRefr), status: 401, reason: gate.ReasonNotAccessToken},
		{name: "suspended user's token", uri: "/wiki", edit: bearer(tokCarol), status: 401, reason: gate.ReasonSubjectInactive},
		{name: "browser without credentials goes to login", uri: "/wiki/page?x=1", edit: pageRequest, status: 401,
			reason: gateway.ReasonNoCredentials, login: loginFor("/wiki/page?x=1", false), challenge: `Bearer realm="weft"`},
		{name: "API client without credentials gets a plain 401", uri: "/wiki", status: 401, reason: gateway.ReasonNoCredentials},
		{name: "a form post is not sent to login", uri: "/wiki", edit: func(r *http.Request) {
			pageRequest(r)
			r.Header.Set("X-Forwarded-Method", http.MethodPost)
		}, status: 401, reason: gateway.ReasonNoCredentials},
		{name: "ended session goes to login", uri: "/wiki", edit: cookie(cookieOld), status: 401, reason: gateway.ReasonNoSession,
			login: loginFor("/wiki", false)},
		{name: "suspended user's session", uri: "/wiki", edit: cookie(cookieSus), status: 401, reason: gate.ReasonSubjectInactive,
			login: loginFor("/wiki", false)},
		{name: "unknown route", uri: "/private", edit: bearer(tokAlice), status: 403, reason: gateway.ReasonRouteUnknown},
		{name: "unknown route without credentials is still 403", uri: "/private", edit: pageRequest, status: 403, reason: gateway.ReasonRouteUnknown},
		{name: "prefix is whole segments", uri: "/wikis", edit: bearer(tokAlice), status: 403, reason: gateway.ReasonRouteUnknown},
		{name: "traversal is decided where it lands", uri: "/wiki/..;/payroll/run", edit: bearer(tokAlice), status: 403, reason: "not_in_finance",
			askedScope: "application:payroll"},
		{name: "policy denies", uri: "/payroll", edit: bearer(tokAlice), status: 403, reason: "not_in_finance"},
		{name: "step-up for a browser", uri: "/secret/x", edit: cookie(cookieOK), status: 401, reason: gateway.ReasonStepUp,
			login: loginFor("/secret/x", true), challenge: `error="insufficient_user_authentication"`},
		{name: "step-up for a token", uri: "/secret/x", edit: bearer(tokAlice), status: 401, reason: gateway.ReasonStepUp,
			challenge: `acr_values="aal2"`},
		{name: "untrusted peer, whatever it says", uri: "/wiki", edit: func(r *http.Request) {
			bearer(tokAlice)(r)
			r.RemoteAddr = "198.51.100.7:4444"
		}, status: 403, reason: gateway.ReasonUntrustedProxy},
		{name: "trusted peer that says nothing", uri: "/wiki", edit: func(r *http.Request) {
			bearer(tokAlice)(r)
			r.Header.Del("X-Forwarded-Uri")
		}, status: 400, reason: gateway.ReasonBadRequest},
		{name: "client-sent X-Original-URL through Caddy", uri: "/payroll", edit: func(r *http.Request) {
			bearer(tokAlice)(r)
			r.Header.Set("X-Original-URL", "https://"+appHost+"/wiki")
		}, status: 400, reason: gateway.ReasonBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			en := newEnv(t)
			rec := en.ask(tc.uri, tc.edit)
			h := rec.Header()
			if rec.Code != tc.status || h.Get(gateway.HeaderReason) != tc.reason || h.Get(gateway.HeaderLogin) != tc.login ||
				!strings.Contains(h.Get("WWW-Authenticate"), tc.challenge) {
				t.Fatalf("%d reason %q login %q challenge %q\n%s\nwant %d %q %q %q", rec.Code, h.Get(gateway.HeaderReason),
					h.Get(gateway.HeaderLogin), h.Get("WWW-Authenticate"), rec.Body, tc.status, tc.reason, tc.login, tc.challenge)
			}
			if h.Get("Cache-Control") != "no-store" {
				t.Fatalf("Cache-Control = %q", h.Get("Cache-Control"))
			}
			if tc.status == 200 {
				for _, name := range []string{gateway.HeaderSubject, gateway.HeaderUser, gateway.HeaderEmail, gateway.HeaderGroups, gateway.HeaderRisk} {
					if _, set := h[name]; !set {
						t.Errorf("%s is not set (it must be, even empty)", name)
					}
				}
				for k, v := range tc.headers {
					if h.Get(k) != v {
						t.Errorf("%s = %q, want %q", k, h.Get(k), v)
					}
				}
			} else {
				if ct := h.Get("Content-Type"); ct != "application/problem+json" || !strings.Contains(rec.Body.String(), `"error":"`+tc.reason+`"`) {
					t.Fatalf("body %s (%s)", rec.Body, ct)
				}
				if h.Get(gateway.HeaderSubject) != "" {
					t.Fatal("a refusal carries identity headers")
				}
			}
			if tc.askedScope != "" {
				last := en.policy.got[len(en.policy.got)-1]
				if last.Resource != tc.askedScope || last.Action != gateway.ActionAccess || last.IP != "203.0.113.9" || last.UserAgent != "test-browser" {
					t.Fatalf("the policy was asked %+v", last)
				}
			}
			for _, secret := range []string{tokAlice, tokMachin, tokCarol, "tok-revoked", cookieOK, cookieOld, "secret\""} {
				if strings.Contains(en.logs.String(), secret) || strings.Contains(rec.Body.String(), secret) {
					t.Fatalf("a token or cookie leaked into the log or the answer:\n%s\n%s", en.logs, rec.Body)
				}
			}
		})
	}
}

// A decision that cannot be made fails closed (500), never as a pass.
func TestAuthz_FailsClosed(t *testing.T) {
	en := newEnv(t)
	rec := en.ask("/wiki", func(r *http.Request) {
		r.AddCookie(&http.Cookie{Name: "weft_session", Value: "x"})
	})
	if rec.Code != 401 {
		t.Fatalf("unknown cookie: %d", rec.Code)
	}
	// A session whose user cannot be resolved (the database is down).
	toks := gatetest.NewTokens()
	toks.Mint("tok-broken", "web", "broken", "sid", "openid")
	g, _ := gate.New(gate.Deps{Tokens: toks, Principals: people{}, Risk: analytics.NoRisk{}, Policy: policy.AllowAll{}, Events: analytics.Discard{}})
	src := &source{apps: []identity.Application{{ID: "site"}}, routes: []access.Route{route(appHost, "/", "site")}}
	tab := gateway.NewRouteTable(routeSource{src}, appSource{src}, nil)
	_ = tab.Reload(context.Background())
	h, err := gateway.New(gateway.Handler{Gate: g, Routes: tab, Sessions: sessions{}, Profiles: profiles{}, Browser: browsers{},
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix(proxyIP + "/32")}, Issuer: issuer})
	if err != nil {
		t.Fatal(err)
	}
	e := httpserver.New(httpserver.Options{})
	h.Register(e)
	r := httptest.NewRequest(http.MethodGet, gateway.PathAuthz+"/x", nil)
	r.Host = appHost
	r.Header.Set("Authorization", "Bearer tok-broken")
	w := httptest.NewRecorder()
	e.ServeHTTP(w, r)
	if w.Code != 500 || w.Header().Get(gateway.HeaderSubject) != "" {
		t.Fatalf("store failure: %d %v", w.Code, w.Header())
	}
}

func TestNew_RequiresDependencies(t *testing.T) {
	_, err := gateway.New(gateway.Handler{})
	for _, name := range []string{"Gate", "Routes", "Sessions", "Profiles", "Browser", "Issuer"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("New without %s: %v", name, err)
		}
	}
}

// GET /gateway/login: back to the page asked for, through the login page when needed,
// and only ever to a page a route covers.
func TestLogin(t *testing.T) {
	en := newEnv(t)
	get := func(query string, signedIn bool) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, gateway.PathLogin+"?"+query, nil)
		if signedIn {
			r.AddCookie(&http.Cookie{Name: "weft_session", Value: cookieOK})
		}
		rec := httptest.NewRecorder()
		en.e.ServeHTTP(rec, r)
		return rec
	}
	page := "https://" + appHost + ":8443/wiki/page?x=1"
	loginNext := func(rd string) string {
		return access.PathLogin + "?next=" + url.QueryEscape(gateway.PathLogin+"?rd="+url.QueryEscape(rd))
	}
	for _, tc := range []struct {
		name     string
		query    string
		signedIn bool
		location string
	}{
		{"no session: through the login page", "rd=" + url.QueryEscape(page), false, loginNext(page)},
		{"a session: straight back", "rd=" + url.QueryEscape(page), true, page},
		{"step-up: the login page even with a session", "rd=" + url.QueryEscape(page) + "&prompt=login", true, loginNext(page)},
		{"the fragment is dropped", "rd=" + url.QueryEscape("http://127.0.0.1:9999/wiki#top"), true, "http://127.0.0.1:9999/wiki"},
	} {
		rec := get(tc.query, tc.signedIn)
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != tc.location {
			t.Errorf("%s: %d Location %q, want %q", tc.name, rec.Code, rec.Header().Get("Location"), tc.location)
		}
		if loc := rec.Header().Get("Location"); strings.HasPrefix(loc, access.PathLogin) {
			next, _ := url.ParseQuery(strings.TrimPrefix(loc, access.PathLogin+"?"))
			if !access.IsContinueURL(next.Get("next")) || strings.Contains(next.Get("next"), "prompt") {
				t.Errorf("%s: the login page would refuse or loop on next=%q", tc.name, next.Get("next"))
			}
		}
	}
	for _, rd := range []string{
		"",
		"https://evil.example/",
		"//evil.example/wiki",
		"/wiki",
		"javascript:alert(1)",
		"data:text/html,<script>alert(1)</script>",
		"https://app.example.com@evil.example/wiki",
		"https://evil.example\\@app.example.com/wiki",
		"https://evil.example/\\app.example.com/wiki",
		"https://app.example.com.evil.example/wiki",
		"https://app.example.com/private",
		"https://app.example.com/wikis",
		"https://app.example.com/wiki\r\nSet-Cookie: x=y",
		"ftp://app.example.com/wiki",
		"https://[::1]/wiki",
	} {
		rec := get("rd="+url.QueryEscape(rd), true)
		if rec.Code != http.StatusBadRequest || rec.Header().Get("Location") != "" {
			t.Errorf("rd=%q: %d Location %q; want 400 and no redirect", rd, rec.Code, rec.Header().Get("Location"))
		}
	}
	if rec := get("rd="+url.QueryEscape(page)+"&prompt=none", true); rec.Code != http.StatusBadRequest {
		t.Errorf("prompt=none: %d", rec.Code)
	}
}

// The session and profile caches answer from memory, drop what fan-out events name,
// and ask the database while the node is not fresh.
func TestCaches(t *testing.T) {
	ctx := context.Background()
	calls := 0
	next := resumeFunc(func(_ context.Context, cookie string) (identity.LoginSession, error) {
		calls++
		if cookie == "good" {
			return identity.LoginSession{ID: "sid-1", UserID: "alice", SecretHash: []byte("h"), ExpiresAt: time.Now().Add(time.Hour)}, nil
		}
		if cookie == "down" {
			return identity.LoginSession{}, errors.New("database is down")
		}
		return identity.LoginSession{}, identity.ErrNoSession
	})
	fresh := true
	c := gateway.NewSessionCache(next, func() bool { return fresh }, time.Minute, 100)
	for range 3 {
		ls, err := c.Resume(ctx, "good")
		if err != nil || ls.ID != "sid-1" || ls.SecretHash != nil {
			t.Fatalf("Resume = %+v, %v", ls, err)
		}
	}
	for range 3 {
		if _, err := c.Resume(ctx, "made-up"); !errors.Is(err, identity.ErrNoSession) {
			t.Fatal(err)
		}
	}
	if calls != 2 {
		t.Fatalf("%d lookups, want 2 (one per cookie, negatives cached too)", calls)
	}
	for range 2 {
		if _, err := c.Resume(ctx, "down"); err == nil || errors.Is(err, identity.ErrNoSession) {
			t.Fatal("a store failure became an answer")
		}
	}
	if calls != 4 {
		t.Fatalf("store failures were cached: %d lookups", calls)
	}
	c.Watch(revocationEvent("sid-2", "")) // another session: kept
	_, _ = c.Resume(ctx, "good")
	if calls != 4 {
		t.Fatal("an event for another session dropped this one")
	}
	c.Watch(revocationEvent("sid-1", ""))
	_, _ = c.Resume(ctx, "good")
	if calls != 5 {
		t.Fatal("the revoked session was served from memory")
	}
	c.Watch(revocationEvent("", "alice")) // the user's sessions
	_, _ = c.Resume(ctx, "good")
	if calls != 6 {
		t.Fatal("the revoked user's session was served from memory")
	}
	fresh = false
	_, _ = c.Resume(ctx, "good")
	if calls != 7 {
		t.Fatal("a node cut off from the bus served from memory")
	}

	pcalls := 0
	pc := gateway.NewProfileCache(profileFunc(func(id string) (identity.User, []identity.Group, error) {
		pcalls++
		return identity.User{ID: id, Username: "alice", Email: "a@example.com"}, []identity.Group{{Name: "eng"}}, nil
	}), func() bool { return true }, time.Minute, 100)
	for range 2 {
		p, err := pc.Profile(ctx, "alice")
		if err != nil || p.Username != "alice" || p.Groups[0] != "eng" {
			t.Fatal(p, err)
		}
	}
	pc.Watch(revocationEvent("", "alice"))
	_, _ = pc.Profile(ctx, "alice")
	if pcalls != 4 { // two loads, each reading the user and the groups
		t.Fatalf("%d profile reads, want 4", pcalls)
	}
}
