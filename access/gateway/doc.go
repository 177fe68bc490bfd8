// Package gateway is forward-auth: the endpoint that nginx (auth_request), Caddy
// (forward_auth), Traefik (ForwardAuth) and Envoy (HTTP ext_authz) call before each
// request they pass on, and that answers 200 with identity headers, 401 (with Weft's
// login URL for browsers) or 403 with a reason code.
//
// A request is decided in four steps, none of which touches SQL in the steady state:
//
//	the peer is a trusted proxy -> the original request (method, host, URI) is read
//	from its headers -> the route table gives the application -> access/gate decides
//	for the bearer token or Weft's session cookie (action "access", resource
//	"application:<id>").
//
// The route table (RouteTable) is this node's copy of the routes (access.Route) and
// applications (identity.Application), reloaded on change through the fan-out bus. The
// session and profile caches (Sessions, Profiles) follow the gate's principal cache:
// dropped by the same fan-out events, served only while the node is fresh on the bus.
//
// GET /gateway/login?rd=<url> is the browser's way back: after Weft's login page it
// sends the browser to the page it asked for, but only to a URL that a route covers, so
// it is never an open redirect.
package gateway
