package gate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ory/fosite"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/analytics"
	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/policy"
)

// Tokens finds the grant behind a token; *oauth.Provider implements it (fosite's
// IntrospectToken over the node's token cache, which the fan-out keeps current).
type Tokens interface {
	IntrospectToken(ctx context.Context, token string, use fosite.TokenUse, session fosite.Session, scope ...string) (fosite.TokenUse, fosite.AccessRequester, error)
}

// Principals resolves a token's subject. Principal returns an error only when the
// answer is unknown (the database is down); an unknown subject is a client principal.
type Principals interface {
	Principal(ctx context.Context, subject string) (policy.Principal, error)
}

// Deps are the gate's collaborators, all required.
type Deps struct {
	Tokens     Tokens
	Principals Principals
	Risk       analytics.Scorer
	Policy     policy.Decider
	Events     analytics.Recorder
	Logger     *slog.Logger
}

// Gate makes the per-request decision.
type Gate struct {
	d Deps
}

// New checks that every dependency is present.
func New(d Deps) (*Gate, error) {
	if d.Tokens == nil || d.Principals == nil || d.Risk == nil || d.Policy == nil || d.Events == nil {
		return nil, errors.New("gate.New: Tokens, Principals, Risk, Policy and Events are required")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	return &Gate{d: d}, nil
}

// Request is one question: a token and what the request around it says.
type Request struct {
	Token string
	// AccessTokenOnly refuses refresh tokens (every bearer use); introspection takes
	// both kinds, as RFC 7662 does.
	AccessTokenOnly bool
	Action          string // policy.ActionIntrospect, policy.ActionAPI
	Resource        string // the API route, or "application:<id>"
	// The application and route asked about (forward-auth), as the policy sees them:
	// its sensitivity is what the default policy's step-up reads.
	Application          string
	Sensitive            bool
	RouteHost, RoutePath string
	IP                   string
	UserAgent            string
	DeviceID             string
}

// Result is the decision with its reasons. Active is RFC 7662's "active": the token is
// valid, not revoked, and its subject is in good standing. Allow is Active and the
// policy allowing the request.
type Result struct {
	Active    bool
	Allow     bool
	StepUp    string // the acr the policy requires first, when it asks for step-up
	Reasons   []policy.Reason
	Use       fosite.TokenUse
	Grant     fosite.AccessRequester // nil when the token was not found
	Principal policy.Principal
	Risk      analytics.Risk
}

// Reason codes of the gate itself (the policy and the risk engine add their own).
const (
	ReasonTokenInactive   = "token_inactive"
	ReasonNotAccessToken  = "not_an_access_token"
	ReasonSubjectInactive = "subject_inactive"
	ReasonPolicyDenied    = "policy_denied"
)

// Check looks the token up and decides (steps 2 to 6 of DESIGN's request path). An
// error means no decision could be made (a store is down): callers fail closed.
func (g *Gate) Check(ctx context.Context, r Request) (Result, error) {
	use, ar, err := g.d.Tokens.IntrospectToken(ctx, r.Token, fosite.AccessToken, access.NewSession("", "", ""))
	if err != nil {
		if isStoreFailure(err) {
			return Result{}, fmt.Errorf("token lookup: %w", err)
		}
		return Result{Reasons: []policy.Reason{{Code: ReasonTokenInactive, Message: "The token is invalid, expired or revoked."}}}, nil
	}
	// fosite falls back to refresh tokens when no access token matches: a refresh
	// token is a credential for the token endpoint only, never a bearer token.
	if r.AccessTokenOnly && use != fosite.AccessToken {
		return Result{Use: use, Reasons: []policy.Reason{{Code: ReasonNotAccessToken, Message: "A refresh token is not a bearer token."}}}, nil
	}
	return g.Decide(ctx, r, use, ar)
}

// Decide makes the decision for a token that was already found (introspection, where
// fosite authenticated the caller and looked the token up).
func (g *Gate) Decide(ctx context.Context, r Request, use fosite.TokenUse, ar fosite.AccessRequester) (Result, error) {
	clientID := ""
	if c := ar.GetClient(); c != nil {
		clientID = c.GetID()
	}
	sid := ""
	if s, ok := ar.GetSession().(*access.Session); ok {
		sid = s.SID
	}
	res, err := g.decide(ctx, r, ar.GetSession().GetSubject(), clientID, sid, ar.GetGrantedScopes())
	if err != nil {
		return Result{}, err
	}
	res.Use, res.Grant = use, ar
	return res, nil
}

// DecideSession makes the decision for a person's login session at Weft rather than a
// token: forward-auth with Weft's session cookie. The caller has checked the session
// (cookie valid, session not ended); the subject check, risk, policy and event are
// Decide's, with the session's sid and no client or scopes. Result.Grant is nil.
func (g *Gate) DecideSession(ctx context.Context, r Request, subject, sid string) (Result, error) {
	if subject == "" || sid == "" {
		return Result{}, errors.New("gate.DecideSession: a subject and a session id are required")
	}
	return g.decide(ctx, r, subject, "", sid, nil)
}

func (g *Gate) decide(ctx context.Context, r Request, subject, clientID, sid string, scopes []string) (Result, error) {
	var res Result
	p, err := g.d.Principals.Principal(ctx, subject)
	if err != nil {
		return Result{}, fmt.Errorf("resolve the subject: %w", err)
	}
	res.Principal = p
	if p.Status != string(identity.StatusActive) {
		// Defence in depth: the suspension revoked the token already, unless a
		// revocation was missed; either way the answer is no.
		res.Reasons = []policy.Reason{{Code: ReasonSubjectInactive, Message: "The token's subject is " + p.Status + "."}}
		return res, nil
	}
	res.Active = true
	sig := analytics.Signal{Subject: p.ID, SubjectKind: p.Kind, ClientID: clientID, SessionID: sid, Action: r.Action,
		IP: r.IP, UserAgent: r.UserAgent, DeviceID: r.DeviceID, At: time.Now()}
	risk, err := g.d.Risk.Score(ctx, sig)
	if err != nil {
		return Result{}, fmt.Errorf("score risk: %w", err)
	}
	res.Risk = risk
	reasons := make([]string, len(risk.Reasons))
	for i, rr := range risk.Reasons {
		reasons[i] = rr.Code
	}
	dec, err := g.d.Policy.Decide(ctx, policy.Request{Principal: p, ClientID: clientID, SessionID: sid,
		Scopes: scopes, Action: r.Action, Resource: r.Resource, Application: r.Application, Sensitive: r.Sensitive,
		RouteHost: r.RouteHost, RoutePath: r.RoutePath, IP: r.IP, UserAgent: r.UserAgent,
		DeviceID: r.DeviceID, RiskScore: risk.Score, RiskLevel: string(risk.Level), RiskReasons: reasons})
	if err != nil {
		return Result{}, fmt.Errorf("evaluate the policy: %w", err)
	}
	res.Allow, res.StepUp, res.Reasons = dec.Allow, dec.StepUp, dec.Reasons
	if !dec.Allow && len(res.Reasons) == 0 {
		res.Reasons = []policy.Reason{{Code: ReasonPolicyDenied, Message: "The policy denies this request."}}
	}
	g.d.Events.Record(analytics.Event{Signal: sig, Risk: risk, Allowed: res.Allow, Outcomes: policy.Codes(res.Reasons)})
	return res, nil
}

// isStoreFailure tells a lookup that could not be made (fosite wraps storage errors in
// server_error) from a token that is simply not valid.
func isStoreFailure(err error) bool {
	var rfc *fosite.RFC6749Error
	return errors.As(err, &rfc) && rfc.CodeField >= 500
}
