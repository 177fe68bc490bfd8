package access

import (
	"net/url"
	"slices"
	"strings"
)

// Endpoint paths, relative to the issuer.
const (
	PathAuthorize  = "/oauth2/auth"
	PathToken      = "/oauth2/token"
	PathIntrospect = "/oauth2/introspect"
	PathRevoke     = "/oauth2/revoke"
	PathUserinfo   = "/userinfo"
	PathLogout     = "/oauth2/logout"
	PathJWKS       = "/.well-known/jwks.json"
	PathDiscovery  = "/.well-known/openid-configuration"
)

// Paths of the pages that the authorization endpoint sends the browser to (served by ui).
const (
	PathLogin   = "/login"
	PathConsent = "/consent"
)

// PathGatewayLogin is where the login page returns a browser that a gateway sent to sign
// in (access/gateway): it validates the page to go back to against the gateway routes.
const PathGatewayLogin = "/gateway/login"

// DenyParam marks an authorization request that the user declined on the consent page.
const DenyParam = "weft_consent_denied"

// ContinueURL is the authorization request to come back to after the login or consent
// page. It drops what that page satisfies (prompt=login and max_age after a fresh login,
// prompt=consent after consent) so the browser does not loop.
func ContinueURL(form url.Values, satisfied string) string {
	q := url.Values{}
	for k, vs := range form {
		if k == DenyParam {
			continue
		}
		q[k] = append([]string(nil), vs...)
	}
	if p := strings.Fields(q.Get("prompt")); len(p) > 0 {
		p = slices.DeleteFunc(p, func(s string) bool { return s == satisfied })
		if len(p) == 0 {
			q.Del("prompt")
		} else {
			q.Set("prompt", strings.Join(p, " "))
		}
	}
	if satisfied == "login" {
		q.Del("max_age")
	}
	return PathAuthorize + "?" + q.Encode()
}

// IsContinueURL reports whether next is a path that the login and consent pages may
// redirect to: an authorization request, or the gateway's way back (which checks where
// it sends the browser itself); a relative path to our own endpoint, never an open
// redirect.
func IsContinueURL(next string) bool {
	return (strings.HasPrefix(next, PathAuthorize+"?") || strings.HasPrefix(next, PathGatewayLogin+"?")) &&
		!strings.ContainsAny(next, "\r\n\\")
}
