package authzen_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/weft-fabric/weft/access/authzen"
	"github.com/weft-fabric/weft/access/gate"
	"github.com/weft-fabric/weft/access/gate/gatetest"
	"github.com/weft-fabric/weft/access/httpserver"
	"github.com/weft-fabric/weft/analytics"
	"github.com/weft-fabric/weft/policy"
)

// issuer is only written into the metadata; nothing is sent to it.
const issuer = "https://id.example.com"

// Bearer tokens of the fixture.
const (
	tokPEP     = "pep-token"     // client pep, scope weft:authzen
	tokMachine = "machine-token" // machine identity robot via client pep, scope weft:authzen
	tokNoScope = "noscope-token" // client other, no weft:authzen
	tokPerson  = "person-token"  // alice via web, scope weft:authzen
	tokRefresh = "refresh-token" // a refresh token of pep: never a bearer token
	tokBlocked = "blocked-token" // client blocked: the central policy refuses it
)

// stepUpACR is what the fake policy asks for on resource "stepup".
const stepUpACR = "urn:weft:acr:reauth"

// principals is the gate's view of the directory: alice is a person, robot a machine
// identity, everything else a client.
type principals map[string]policy.Principal

func (p principals) Principal(_ context.Context, subject string) (policy.Principal, error) {
	if pr, ok := p[subject]; ok {
		return pr, nil
	}
	return policy.Principal{ID: subject, Kind: policy.KindClient, Status: "active"}, nil
}

// callers is the central policy on bearer calls: it refuses client "blocked".
type callers struct{}

func (callers) Decide(_ context.Context, r policy.Request) (policy.Decision, error) {
	if r.ClientID == "blocked" {
		return policy.Decision{Reasons: []policy.Reason{{Code: "client_blocked", Message: "This client may not ask for decisions."}}}, nil
	}
	return policy.Decision{Allow: true}, nil
}

// evaluator is the policy behind AuthZEN, by resource id: "deny..." is denied with a
// reason, "bare-deny" denied without one, "stepup" asks for step-up, "broken" cannot
// be evaluated, "misfit" does not fit the schema, "read-only" permits only the action read, anything else is allowed. It
// records every query.
type evaluator struct {
	mu  sync.Mutex
	got []policy.Query
}

func (e *evaluator) Evaluate(_ context.Context, q policy.Query) (policy.Decision, error) {
	e.mu.Lock()
	e.got = append(e.got, q)
	e.mu.Unlock()
	switch id := q.Resource.ID; {
	case id == "broken":
		return policy.Decision{}, errors.New("policy store unreachable at 10.0.0.7")
	case id == "misfit":
		return policy.Decision{}, fmt.Errorf("%w: resource.properties.sensitive must be a Bool", policy.ErrInvalid)
	case id == "bare-deny":
		return policy.Decision{}, nil
	case strings.HasPrefix(id, "deny"):
		return policy.Decision{Reasons: []policy.Reason{{Code: "not_owner", Message: "Only the owner may do this."},
			{Code: "risk_high", Message: "Risk is high."}}}, nil
	case id == "stepup":
		return policy.Decision{StepUp: stepUpACR, Reasons: []policy.Reason{{Code: "risk_medium", Message: "Risk is medium on a sensitive application."}}}, nil
	case id == "read-only":
		return policy.Decision{Allow: q.Action == "read"}, nil
	}
	return policy.Decision{Allow: true}, nil
}

func (e *evaluator) queries() []policy.Query {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]policy.Query(nil), e.got...)
}

// actionList is the policy's catalogue of actions, unsorted and with a repeat, as a
// lister may give it.
type actionList []string

func (a actionList) Actions(context.Context) []string { return a }

type env struct {
	e    *echo.Echo
	eval *evaluator
	gate *gate.Gate
}

// newEnv serves the AuthZEN API through Weft's real HTTP edge (httpserver: request ids,
// the problem+json error handler) and a real gate over a token map; with actions, action
// search is offered.
func newEnv(t *testing.T, actions authzen.ActionLister) *env {
	t.Helper()
	tokens := gatetest.NewTokens()
	tokens.Mint(tokPEP, "pep", "", "", authzen.Scope)
	tokens.Mint(tokMachine, "pep", "robot", "", authzen.Scope)
	tokens.Mint(tokNoScope, "other", "", "", "api.read")
	tokens.Mint(tokPerson, "web", "alice", "sid-1", "openid", authzen.Scope)
	tokens.Mint(tokRefresh, "pep", "", "", authzen.Scope)
	tokens.AsRefresh(tokRefresh)
	tokens.Mint(tokBlocked, "blocked", "", "", authzen.Scope)
	g, err := gate.New(gate.Deps{Tokens: tokens, Principals: principals{
		"alice": {ID: "alice", Kind: policy.KindUser, Status: "active"},
		"robot": {ID: "robot", Kind: policy.KindMachine, Status: "active"},
	}, Risk: analytics.NoRisk{}, Policy: callers{}, Events: analytics.Discard{}})
	if err != nil {
		t.Fatal(err)
	}
	en := &env{e: httpserver.New(httpserver.Options{}), eval: &evaluator{}, gate: g}
	h := &authzen.Handler{Issuer: issuer, Gate: g, Evaluator: en.eval, Actions: actions, MaxEvaluations: 8}
	h.Register(en.e)
	return en
}

// do sends a request with the token (none when empty) and a JSON body.
func (en *env) do(t *testing.T, method, path, token, body string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	}
	if token != "" {
		req.Header.Set(echo.HeaderAuthorization, "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	rec := httptest.NewRecorder()
	en.e.ServeHTTP(rec, req)
	return rec
}

// post is an authenticated POST of body by the enforcement point.
func (en *env) post(t *testing.T, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	return en.do(t, http.MethodPost, path, tokPEP, body)
}

// problem is the error body Weft answers with (RFC 9457).
type problem struct {
	Status int    `json:"status"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Error  string `json:"error"`
	Field  string `json:"field"`
}

func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	return v
}

// wantProblem checks an error answer: status, problem+json, and a detail naming what
// is wrong.
func wantProblem(t *testing.T, rec *httptest.ResponseRecorder, status int, detail string) problem {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get(echo.HeaderContentType); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
	p := decode[problem](t, rec)
	if p.Status != status || !strings.Contains(p.Detail, detail) {
		t.Errorf("problem = %+v, want a detail containing %q", p, detail)
	}
	return p
}

// Answer shapes, decoded as a PEP reads them; raw keeps what the typed view drops.
type decisionBody struct {
	Decision *bool `json:"decision"`
	Context  *struct {
		Reasons     []policy.Reason   `json:"reasons"`
		ReasonAdmin map[string]string `json:"reason_admin"`
		ReasonUser  map[string]string `json:"reason_user"`
		ACRValues   string            `json:"acr_values"`
		Error       *struct {
			Status  int    `json:"status"`
			Message string `json:"message"`
		} `json:"error"`
	} `json:"context"`
}

type evaluationsBody struct {
	Decision    *bool          `json:"decision"`
	Evaluations []decisionBody `json:"evaluations"`
}
