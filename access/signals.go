package access

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"

	"github.com/weft-fabric/weft/access/httpserver"
)

// Signals learns, inside a revocation's transaction, what the revocation ends, so that
// what it queues (security event tokens for SSF receivers, access/ssf) commits or rolls
// back with the revocation itself.
type Signals interface {
	// SessionRevoked is called once for every login session rev ends; sub is the
	// session's user. An error aborts the revocation.
	SessionRevoked(ctx context.Context, rev Revocation, sid, sub string) error
}

type revocationKey struct{}

// ContextWithRevocation marks ctx as the transaction of revocation rev, so that
// changes made on its behalf elsewhere (a suspension through identity.Directory) can
// name it: SSF events then carry its id as txn and its reason.
func ContextWithRevocation(ctx context.Context, rev Revocation) context.Context {
	return context.WithValue(ctx, revocationKey{}, rev)
}

// RevocationFromContext returns the revocation whose transaction ctx is, if any.
func RevocationFromContext(ctx context.Context) (Revocation, bool) {
	rev, ok := ctx.Value(revocationKey{}).(Revocation)
	return rev, ok
}

// CheckPushURL applies the rule for URLs Weft posts security tokens to (back-channel
// logout URIs, SSF push endpoints): absolute https, http only on loopback, no fragment
// or user information.
func CheckPushURL(raw string) error {
	if err := checkRedirectURI(raw); err != nil {
		return err
	}
	if !strings.HasPrefix(raw, "http") {
		return errors.New("must be an https URL (http only on loopback)")
	}
	return nil
}

// BearerClient authenticates the request's OAuth bearer token (RFC 6750) and requires
// scope; it returns the client the token was issued to. Without a valid token it is a
// 401 problem, without the scope a 403, each with the matching WWW-Authenticate.
func BearerClient(c echo.Context, tokens TokenLookup, scope string) (string, error) {
	tok := fosite.AccessTokenFromRequest(c.Request())
	if tok == "" {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="weft"`)
		return "", &httpserver.Problem{Status: http.StatusUnauthorized, Title: "Unauthorized", Detail: "A bearer access token with scope " + scope + " is required."}
	}
	use, ar, err := tokens.IntrospectToken(c.Request().Context(), tok, fosite.AccessToken, NewSession("", "", ""))
	if err != nil || use != fosite.AccessToken {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="weft", error="invalid_token"`)
		return "", &httpserver.Problem{Status: http.StatusUnauthorized, Title: "Unauthorized", Detail: "The access token is invalid, expired or revoked."}
	}
	if !ar.GetGrantedScopes().Has(scope) {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="weft", error="insufficient_scope", scope="`+scope+`"`)
		return "", &httpserver.Problem{Status: http.StatusForbidden, Title: "Forbidden", Detail: "This token lacks the " + scope + " scope."}
	}
	return ar.GetClient().GetID(), nil
}
