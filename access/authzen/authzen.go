package authzen

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/weft-fabric/weft/access/gate"
	"github.com/weft-fabric/weft/access/httpserver"
	"github.com/weft-fabric/weft/policy"
)

// Scope lets an OAuth client (an enforcement point) ask Weft for decisions.
const Scope = "weft:authzen"

// Endpoint paths: the default paths of section 10.1 (table "API Endpoint Overview") and
// the well-known metadata path of section 9.2.
const (
	PathEvaluation     = "/access/v1/evaluation"
	PathEvaluations    = "/access/v1/evaluations"
	PathSearchSubject  = "/access/v1/search/subject"
	PathSearchResource = "/access/v1/search/resource"
	PathSearchAction   = "/access/v1/search/action"
	PathConfiguration  = "/.well-known/authzen-configuration"
)

// gateResource names these endpoints to the gate's policy check (policy.Request.Resource).
const gateResource = "authzen"

// Default limits (section 11.7: reasonable protections against payload size).
const (
	DefaultMaxBody        = 64 << 10
	DefaultMaxBatchBody   = 1 << 20
	DefaultMaxEvaluations = 100
)

// ActionLister lists the actions the policy knows (the Cedar schema's actions, built in
// and declared), which is what lets the Action Search API be answered: each is
// evaluated. Actions is called per search and must not block on the network or a
// database.
type ActionLister interface {
	Actions(ctx context.Context) []string
}

// Handler serves the AuthZEN endpoints.
type Handler struct {
	// Issuer is Weft's issuer URL: the PDP identifier (policy_decision_point) and the base
	// of every endpoint URL in the metadata. The metadata is served at
	// /.well-known/authzen-configuration like Weft's other well-known documents; for an
	// issuer with a path (https://host/weft), section 9.2 places it at
	// https://host/.well-known/authzen-configuration/weft, which the proxy in front maps.
	Issuer string
	// Gate authenticates enforcement points' bearer tokens (scope weft:authzen).
	Gate *gate.Gate
	// Evaluator decides.
	Evaluator policy.Evaluator
	// Actions, when set, makes action search available; nil leaves it out.
	Actions ActionLister
	// Limits of request bodies and batches; zero values take the defaults.
	MaxBody        int64 // an evaluation or a search, in bytes
	MaxBatchBody   int64 // an Access Evaluations request, in bytes
	MaxEvaluations int   // evaluations in one Access Evaluations request
	Logger         *slog.Logger
}

// Register mounts the routes. It panics when Issuer, Gate or Evaluator is missing: a
// wiring mistake must stop the start, not fail each request.
func (h *Handler) Register(e *echo.Echo) {
	if h.Issuer == "" || h.Gate == nil || h.Evaluator == nil {
		panic("authzen: Handler needs Issuer, Gate and Evaluator")
	}
	if h.MaxBody <= 0 {
		h.MaxBody = DefaultMaxBody
	}
	if h.MaxBatchBody <= 0 {
		h.MaxBatchBody = DefaultMaxBatchBody
	}
	if h.MaxEvaluations <= 0 {
		h.MaxEvaluations = DefaultMaxEvaluations
	}
	if h.Logger == nil {
		h.Logger = slog.New(slog.DiscardHandler)
	}
	e.GET(PathConfiguration, h.configuration, echoRequestID)
	e.POST(PathEvaluation, h.evaluation, echoRequestID)
	e.POST(PathEvaluations, h.evaluations, echoRequestID)
	e.POST(PathSearchAction, h.searchAction, echoRequestID)
	e.POST(PathSearchSubject, notOffered("subject"), echoRequestID)
	e.POST(PathSearchResource, notOffered("resource"), echoRequestID)
}

// echoRequestID answers with the caller's X-Request-ID unchanged (section 10.1.3: "the
// same identifier"). httpserver's middleware replaces an id outside its safe alphabet
// with one it mints for logs; here the caller's own value wins on the response. Go's
// server refuses header values with control characters, so it is safe to reflect.
func echoRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if id := c.Request().Header.Get(echo.HeaderXRequestID); id != "" {
			c.Response().Header().Set(echo.HeaderXRequestID, id)
		}
		return next(c)
	}
}

// authenticate admits an enforcement point: a client's (or machine identity's) access
// token with Scope, which the central policy lets call these endpoints. A person's
// token is refused even with the scope: it would let a person ask the policy about
// anyone (section 11.2).
func (h *Handler) authenticate(c echo.Context) error {
	cl, err := h.Gate.Bearer(c, gateResource, Scope)
	if err != nil {
		return err
	}
	if cl.Person() {
		return &httpserver.Problem{Status: http.StatusForbidden, Title: "Forbidden",
			Detail: "The AuthZEN API answers enforcement points: present the client's own access token (client credentials grant), not a person's."}
	}
	return nil
}

// metadata is the PDP metadata of section 9.1.1. Parameters without a value are
// omitted (section 9.2.2), and an omitted endpoint tells the PEP the API is not offered.
type metadata struct {
	PolicyDecisionPoint       string `json:"policy_decision_point"`
	AccessEvaluationEndpoint  string `json:"access_evaluation_endpoint"`
	AccessEvaluationsEndpoint string `json:"access_evaluations_endpoint"`
	SearchActionEndpoint      string `json:"search_action_endpoint,omitempty"`
}

// configuration serves the metadata (section 9.2): public, as discovery documents are,
// and cacheable for a while (section 11.9).
func (h *Handler) configuration(c echo.Context) error {
	m := metadata{PolicyDecisionPoint: h.Issuer, AccessEvaluationEndpoint: h.Issuer + PathEvaluation,
		AccessEvaluationsEndpoint: h.Issuer + PathEvaluations}
	if h.Actions != nil {
		m.SearchActionEndpoint = h.Issuer + PathSearchAction
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "public, max-age=300")
	return c.JSON(http.StatusOK, m)
}

// notOffered answers a search API this PDP does not offer (see the package comment).
func notOffered(entity string) echo.HandlerFunc {
	return func(echo.Context) error {
		return &httpserver.Problem{Status: http.StatusNotFound, Title: "Not found",
			Detail: "This PDP does not offer the " + entity + " search API: Weft's policy decides over the attributes an enforcement point sends and cannot enumerate " +
				entity + "s. Its metadata (" + PathConfiguration + ") omits search_" + entity + "_endpoint."}
	}
}

// reply writes a successful answer (section 10.1: 200, application/json). Decisions are
// about one moment and one caller: no cache may keep them.
func reply(c echo.Context, v any) error {
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSON(http.StatusOK, v)
}
