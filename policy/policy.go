package policy

import "context"

// Principal is who a request acts for, as the policy sees it: flat and already
// resolved (no lookups while deciding).
type Principal struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"`   // KindUser, KindMachine or KindClient
	Status string `json:"status"` // "active", "suspended" or "deprovisioned"
}

// Principal kinds.
const (
	KindUser    = "user"
	KindMachine = "machine"
	KindClient  = "client"
)

// Request is one decision's input, flat like pomerium's evaluator request: every field
// is a plain value the caller has already resolved.
type Request struct {
	Principal Principal
	ClientID  string // the OAuth client the token was issued to
	SessionID string // the login session, for a person's token
	Scopes    []string
	// Action is what is asked: ActionIntrospect (a gateway asks about a token),
	// ActionAPI (a bearer call to one of Weft's own APIs).
	Action string
	// Resource is what the action is on: an API route, later an application or route.
	Resource string
	// Request context.
	IP, UserAgent, DeviceID string
	// Risk, as the risk engine scored this request.
	RiskScore   int
	RiskLevel   string
	RiskReasons []string
}

// Actions Weft asks about today.
const (
	ActionIntrospect = "introspect"
	ActionAPI        = "api"
)

// Decision is a policy's answer. Reasons say why, for logs, receipts and gateways.
type Decision struct {
	Allow bool
	// StepUp, when not empty, is the assurance (acr) the subject must reach first; it
	// comes with Allow false.
	StepUp  string
	Reasons []Reason
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
	Subject          Entity
	Action           string
	ActionProperties map[string]any
	Resource         Entity
	Context          map[string]any
}

// Evaluator answers general queries: the policy decision point behind AuthZEN.
type Evaluator interface {
	Evaluate(ctx context.Context, q Query) (Decision, error)
}

// AllowAll is the policy until the Cedar engine lands: every request is allowed.
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
