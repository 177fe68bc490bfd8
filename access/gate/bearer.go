package gate

import (
	"context"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/httpserver"
	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/policy"
)

// Caller is who made an authenticated bearer call.
type Caller struct {
	Subject  string
	ClientID string
	Kind     string // policy.KindUser, KindMachine or KindClient
	SID      string // the login session of a person's token
	Scopes   fosite.Arguments
	Grant    fosite.AccessRequester
	Result   Result
}

// Person reports whether the token stands for a person (a user), not a client or
// machine identity acting for itself.
func (c Caller) Person() bool { return c.Kind == policy.KindUser }

// Bearer authenticates the request's bearer access token (RFC 6750) through the gate
// and requires one of scopes (none: any token). It is the one authenticator of every
// bearer-protected API: the token must be a valid, unrevoked access token whose subject
// is in good standing, with the scope, and the policy must allow the call. The token is
// read from the Authorization header only: tokens in a query or a form end up in logs
// and browser history. Refusals are *httpserver.Problem with the matching
// WWW-Authenticate challenge; the token is never logged.
func (g *Gate) Bearer(c echo.Context, resource string, scopes ...string) (Caller, error) {
	r := c.Request()
	ctx := r.Context()
	token, present := BearerToken(r)
	need := strings.Join(scopes, " ")
	if !present {
		// RFC 6750 section 3.1: without credentials, the challenge without an error code.
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="weft"`)
		detail := "A bearer access token is required (Authorization: Bearer <token>)."
		if need != "" {
			detail = "A bearer access token with scope " + strings.Join(scopes, " or ") + " is required (Authorization: Bearer <token>)."
		}
		return Caller{}, &httpserver.Problem{Status: http.StatusUnauthorized, Title: "Unauthorized", Detail: detail}
	}
	if token == "" {
		return Caller{}, invalidToken(c, "The Authorization header is not a well-formed bearer token.")
	}
	info := httpserver.ClientInfo(c, "")
	res, err := g.Check(ctx, Request{Token: token, AccessTokenOnly: true, Action: policy.ActionAPI, Resource: resource,
		IP: info.IP, UserAgent: info.UserAgent})
	if err != nil {
		return Caller{}, err // no decision could be made: 500, never a pass
	}
	if !res.Active {
		g.d.Logger.InfoContext(ctx, "bearer token refused", "resource", resource, "reasons", policy.Codes(res.Reasons))
		detail := "The access token is invalid, expired or revoked."
		if len(res.Reasons) > 0 && res.Reasons[0].Code == ReasonSubjectInactive {
			detail = "The user or machine identity of this access token is no longer active."
		}
		return Caller{}, invalidToken(c, detail)
	}
	sess, _ := res.Grant.GetSession().(*access.Session)
	cl := Caller{Subject: res.Principal.ID, Kind: res.Principal.Kind, Scopes: res.Grant.GetGrantedScopes(),
		Grant: res.Grant, Result: res}
	if client := res.Grant.GetClient(); client != nil {
		cl.ClientID = client.GetID()
	}
	if sess != nil {
		cl.SID = sess.SID
	}
	if len(scopes) > 0 && !hasAny(cl.Scopes, scopes) {
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="weft", error="insufficient_scope", scope="`+need+`"`)
		return cl, &httpserver.Problem{Status: http.StatusForbidden, Title: "Forbidden", Code: "insufficient_scope",
			Detail: "The access token lacks the scope " + strings.Join(scopes, " or ") + "."}
	}
	if !res.Allow {
		g.d.Logger.InfoContext(ctx, "bearer call denied by policy", "resource", resource, "subject", cl.Subject,
			"client_id", cl.ClientID, "reasons", policy.Codes(res.Reasons))
		detail := "The policy denies this request."
		if len(res.Reasons) > 0 {
			detail = res.Reasons[0].Message
		}
		return cl, &httpserver.Problem{Status: http.StatusForbidden, Title: "Forbidden", Detail: detail}
	}
	return cl, nil
}

// BearerToken reads "Authorization: Bearer <token>" (RFC 6750 section 2.1; the scheme
// is case-insensitive). present is false when there is no Bearer header at all; token
// is empty when there is one but it is malformed.
func BearerToken(r *http.Request) (token string, present bool) {
	scheme, rest, _ := strings.Cut(r.Header.Get(echo.HeaderAuthorization), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	rest = strings.TrimSpace(rest)
	if rest == "" || strings.ContainsAny(rest, " \t") {
		return "", true
	}
	return rest, true
}

func invalidToken(c echo.Context, detail string) error {
	c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="weft", error="invalid_token"`)
	return &httpserver.Problem{Status: http.StatusUnauthorized, Title: "Unauthorized", Code: "invalid_token", Detail: detail}
}

func hasAny(granted fosite.Arguments, want []string) bool {
	for _, s := range want {
		if granted.Has(s) {
			return true
		}
	}
	return false
}

// Admins says whether a user may act on Weft's own machine APIs (identity.Directory
// implements it: membership of weft-admins).
type Admins interface {
	IsAdmin(ctx context.Context, userID string) (bool, error)
}

// Operator authenticates like Bearer and, for a token that stands for a person rather
// than a client or machine identity, also requires admins to say yes: the one rule of
// Weft's machine APIs (admin, revocation, shared signals), so a person holding a token
// with the scope is not enough. Actor names who acts, for receipts and the audit log.
func (g *Gate) Operator(c echo.Context, admins Admins, resource string, scopes ...string) (Caller, error) {
	cl, err := g.Bearer(c, resource, scopes...)
	if err != nil || !cl.Person() {
		return cl, err
	}
	ok, err := admins.IsAdmin(c.Request().Context(), cl.Subject)
	if err != nil {
		return cl, err
	}
	if !ok {
		// Not a scope problem, so no insufficient_scope challenge.
		return cl, &httpserver.Problem{Status: http.StatusForbidden, Title: "Forbidden",
			Detail: "The user of this access token is not a member of " + identity.AdminGroup + "."}
	}
	return cl, nil
}

// Actor names the caller for receipts and the audit log: the client, and for a person's
// token the person too ("<user id> via <client id>").
func (c Caller) Actor() string {
	if c.Person() {
		return c.Subject + " via " + c.ClientID
	}
	return c.ClientID
}
