package gate

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"
	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/httpserver"
	"github.com/weft-fabric/weft/access/revocation"
)

// BearerClient authenticates the request's OAuth bearer token (RFC 6750) and requires
// scope; it returns the client the token was issued to. Without a valid token it is a
// 401 problem, without the scope a 403, each with the matching WWW-Authenticate.
func BearerClient(c echo.Context, tokens revocation.TokenLookup, scope string) (string, error) {
	tok := fosite.AccessTokenFromRequest(c.Request())
	if tok == "" {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="weft"`)
		return "", &httpserver.Problem{Status: http.StatusUnauthorized, Title: "Unauthorized", Detail: "A bearer access token with scope " + scope + " is required."}
	}
	use, ar, err := tokens.IntrospectToken(c.Request().Context(), tok, fosite.AccessToken, access.NewSession("", "", ""))
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
