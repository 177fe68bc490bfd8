package policy

import (
	"context"
	"time"
)

// Principal is who a request acts for, as the policy sees it: flat and already
// resolved (no lookups while deciding).
type Principal struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"`   // KindUser, KindMachine or KindClient
	Status string `json:"status"` // "active", "suspended" or "deprovisioned"
	// A person's email and the names of the groups they are in (empty for machines
	// and clients).
	Email  string   `json:"email,omitempty"`
	Groups []string `json:"groups,omitempty"`
}

// Principal kinds.
const (
	KindUser    = "user"
	KindMachine = "machine"
	KindClient  = "client"
)

// Request is one decision's input, flat like pomerium's evaluator request: every field
// is a plain value the caller has already resolved. The Cedar engine maps it onto the
// Weft schema (weft.cedarschema): the principal, the action, the resource and the
// context.
type Request struct {
	Principal Principal `json:"principal"`
	ClientID  string    `json:"client_id,omitempty"`  // the OAuth client the token was issued to
	SessionID string    `json:"session_id,omitempty"` // the login session, for a person's token
	Scopes    []string  `json:"scopes,omitempty"`
	// Action is what is asked: ActionLogin, ActionToken, ActionIntrospect, ActionAccess,
	// ActionAPI, or an action the policy's schema declares.
	Action string `json:"action"`
	// Resource is what the action is on. For ActionAPI it is the API route ("admin
	// /users"), a route of Weft's own application; otherwise, when Application is empty,
	// it names the application.
	Resource string `json:"resource,omitempty"`
	// Application is the application asked about (for login and token, the client's);
	// empty means Resource, then ClientID. Sensitive marks it (or the route) sensitive.
	Application string `json:"application,omitempty"`
	Sensitive   bool   `json:"sensitive,omitempty"`
	// RouteHost and RoutePath (the route's path prefix), when set, make the resource
	// that route of Application rather than the application itself.
	RouteHost string `json:"route_host,omitempty"`
	RoutePath string `json:"route_path,omitempty"`
	// Request context.
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	DeviceID  string `json:"device_id,omitempty"`
	Country   string `json:"country,omitempty"` // ISO 3166-1 alpha-2
	Network   string `json:"network,omitempty"`
	// The session's assurance: authentication context class and methods.
	ACR string   `json:"acr,omitempty"`
	AMR []string `json:"amr,omitempty"`
	// Time is when the request was made; zero means now.
	Time time.Time `json:"time,omitzero"`
	// Risk, as the risk engine scored this request.
	RiskScore   int      `json:"risk_score,omitempty"`
	RiskLevel   string   `json:"risk_level,omitempty"`
	RiskReasons []string `json:"risk_reasons,omitempty"`
}

// Actions of the Weft schema; a policy's schema may declare more.
const (
	ActionLogin      = "login"      // a person signs in
	ActionToken      = "token"      // the token endpoint issues a token (every grant)
	ActionIntrospect = "introspect" // a gateway asks about a token
	ActionAccess     = "access"     // a gateway or enforcement point asks about a request
	ActionAPI        = "api"        // a bearer call to one of Weft's own APIs
)

// AppWeft is the application Weft's own APIs belong to.
const AppWeft = "weft"

// Outcome is a decision in one word.
type Outcome string

// The three outcomes.
const (
	OutcomeAllow  Outcome = "allow"
	OutcomeDeny   Outcome = "deny"
	OutcomeStepUp Outcome = "step_up"
)

// StepUpReauthenticate is the assurance the default policy asks for: a fresh login.
// Re-authentication is the only step-up until stronger factors exist; a policy names
// the acr it requires in its @step_up annotation.
const StepUpReauthenticate = "reauthenticate"

// Decision is a policy's answer. Reasons say why, for logs, receipts and gateways.
// The engine may share Reasons and PolicyIDs between decisions: read them, do not
// change their elements.
type Decision struct {
	Allow bool
	// StepUp, when not empty, is the assurance (acr) the subject must reach first; it
	// comes with Allow false.
	StepUp  string
	Reasons []Reason
	// PolicyIDs are the policies that determined the decision: the forbids that
	// matched for a deny or a step-up, the permits that matched for an allow (empty
	// for the default deny).
	PolicyIDs []string
	// Version is the policy set's version (0: the built-in default set).
	Version int64
}

// Outcome reports the decision as allow, deny or step_up.
func (d Decision) Outcome() Outcome {
	switch {
	case d.Allow:
		return OutcomeAllow
	case d.StepUp != "":
		return OutcomeStepUp
	}
	return OutcomeDeny
}

// Reason is one machine-readable cause of a decision with a sentence for people.
type Reason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Decider evaluates the central policy. Implementations must not block on the network
// or the database in the steady state: they run on every request.
type Decider interface {
	Decide(ctx context.Context, r Request) (Decision, error)
}

// Entity is a subject or resource as an enforcement point names it (AuthZEN's subject
// and resource): a type, an id, and properties that reach the policy as attributes.
type Entity struct {
	Type       string         `json:"type"`
	ID         string         `json:"id"`
	Properties map[string]any `json:"properties,omitempty"`
}

// Query is a decision asked in general terms by any enforcement point (an AuthZEN Access
// Evaluation): who, doing what, on what, in which context.
type Query struct {
	Subject          Entity         `json:"subject"`
	Action           string         `json:"action"`
	ActionProperties map[string]any `json:"action_properties,omitempty"`
	Resource         Entity         `json:"resource"`
	Context          map[string]any `json:"context,omitempty"`
}

// Evaluator answers general queries: the policy decision point behind AuthZEN.
type Evaluator interface {
	Evaluate(ctx context.Context, q Query) (Decision, error)
}

// AllowAll allows every request: the decider when policy is switched off.
type AllowAll struct{}

// Decide implements Decider.
func (AllowAll) Decide(context.Context, Request) (Decision, error) { return Decision{Allow: true}, nil }

// Codes lists the reasons' codes, for logs and events.
func Codes(rs []Reason) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Code
	}
	return out
}
