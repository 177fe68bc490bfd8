package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/gate"
	"github.com/weft-fabric/weft/access/httpserver"
	"github.com/weft-fabric/weft/access/websession"
	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/policy"
)

// Paths served by the handler.
const (
	// PathAuthz is what proxies call; Envoy appends the original path to it.
	PathAuthz = "/gateway/authz"
	// PathLogin sends a browser through Weft's login page and back to the page it
	// asked for (access.PathGatewayLogin).
	PathLogin = access.PathGatewayLogin
)

// ActionAccess is the policy action of a request through a gateway. It is declared
// here until the policy package names its actions for Cedar (policy.ActionIntrospect
// and ActionAPI are the others); the resource is Match.Resource, "application:<id>".
const ActionAccess = "access"

// Reason codes of forward-auth's own refusals, in X-Weft-Reason and the problem body's
// "error" (the gate's and the policy's codes appear the same way).
const (
	ReasonUntrustedProxy = "untrusted_proxy"  // 403: the peer is not in trusted_proxies
	ReasonBadRequest     = "bad_request"      // 400: the proxy did not say which request
	ReasonRouteUnknown   = "route_unknown"    // 403: no route leads there
	ReasonNoCredentials  = "no_credentials"   // 401: no bearer token, no session cookie
	ReasonInvalidToken   = "invalid_token"    // 401: a malformed Authorization header
	ReasonNoSession      = "session_inactive" // 401: the cookie names no live session
	ReasonStepUp         = "step_up"          // 401: the policy asks to sign in again
)

// Identity headers of an allowed request. Values outside printable ASCII, '%' and (in
// the group list) ',' are percent-encoded UTF-8, so a header never carries a byte a
// proxy could split or mangle. Every header is set on every 200, empty when unknown,
// so that a proxy copying them overwrites whatever the client sent.
const (
	HeaderSubject = "X-Weft-Subject" // the subject id: a user's, a machine identity's, or a client's
	HeaderUser    = "X-Weft-User"    // a person's username
	HeaderEmail   = "X-Weft-Email"   // a person's email
	HeaderGroups  = "X-Weft-Groups"  // a person's group names, comma-separated
	HeaderRisk    = "X-Weft-Risk"    // "score=<0..100>, level=<none|low|medium|high|critical>"
	HeaderReason  = "X-Weft-Reason"  // the reason code of a 401 or 403
	HeaderLogin   = "X-Weft-Login"   // the login URL of a 401, for a browser
)

// Sessions resumes a browser's login session from its cookie (*SessionCache).
type Sessions interface {
	Resume(ctx context.Context, cookie string) (identity.LoginSession, error)
}

// Profiles gives a person's identity headers (*ProfileCache).
type Profiles interface {
	Profile(ctx context.Context, userID string) (Profile, error)
}

// Browsers tells whether a browser has a live session at Weft (*websession.Browser).
type Browsers interface {
	Live(ctx context.Context, r *http.Request) (identity.LoginSession, identity.User, bool)
}

// Handler serves forward-auth. Every field but Logger is required.
type Handler struct {
	Gate     *gate.Gate
	Routes   *RouteTable
	Sessions Sessions
	Profiles Profiles
	Browser  Browsers
	Cookies  websession.Cookies
	// TrustedProxies are the only peers answered (cmd: trusted_proxies). Empty, every
	// request is refused: forward-auth believes what the proxy says the request was.
	TrustedProxies []netip.Prefix
	// Issuer is Weft's base URL, for the login URL of a 401.
	Issuer string
	Logger *slog.Logger
}

// New checks h and returns it ready to Register.
func New(h Handler) (*Handler, error) {
	if err := access.CheckDeps("gateway.New", map[string]bool{"Gate": h.Gate == nil, "Routes": h.Routes == nil,
		"Sessions": h.Sessions == nil, "Profiles": h.Profiles == nil, "Browser": h.Browser == nil, "Issuer": h.Issuer == ""}); err != nil {
		return nil, err
	}
	u, err := url.Parse(h.Issuer)
	if err != nil || !u.IsAbs() {
		return nil, fmt.Errorf("gateway.New: the issuer %q is not an absolute URL", h.Issuer)
	}
	h.Issuer = strings.TrimSuffix(h.Issuer, "/")
	h.TrustedProxies = slices.Clone(h.TrustedProxies)
	if h.Logger == nil {
		h.Logger = slog.New(slog.DiscardHandler)
	}
	if len(h.TrustedProxies) == 0 {
		h.Logger.Info("forward-auth (" + PathAuthz + ") refuses every request: no trusted_proxies are configured")
	}
	return &h, nil
}

// Register mounts forward-auth on e: any method (a proxy may ask with the original
// method, as Envoy does), with and without an appended path.
func (h *Handler) Register(e *echo.Echo) {
	e.Any(PathAuthz, h.authz)
	e.Any(PathAuthz+"/*", h.authz)
	e.GET(PathLogin, h.login)
}

func (h *Handler) trusted(a netip.Addr) bool {
	return slices.ContainsFunc(h.TrustedProxies, func(p netip.Prefix) bool { return p.Contains(a) })
}

// authz decides one request a proxy asks about.
func (h *Handler) authz(c echo.Context) error {
	r := c.Request()
	ctx := r.Context()
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	if peer, ok := peerAddr(r); !ok || !h.trusted(peer) {
		h.Logger.WarnContext(ctx, "forward-auth asked by a peer that is not a trusted proxy", "peer", peer.String())
		return refuse(c, http.StatusForbidden, ReasonUntrustedProxy,
			"Forward-auth answers only the proxies listed in trusted_proxies, and this peer is not one of them.")
	}
	o, err := readOriginal(r)
	if err != nil {
		return refuse(c, http.StatusBadRequest, ReasonBadRequest, err.Error())
	}
	m, ok := h.Routes.Match(o.HostKey, o.Path)
	if !ok {
		// The safe default: a request no route covers belongs to no application, so
		// no policy can allow it.
		h.Logger.InfoContext(ctx, "forward-auth refused", "host", o.HostKey, "path", o.Path, "reasons", []string{ReasonRouteUnknown})
		return refuse(c, http.StatusForbidden, ReasonRouteUnknown, "No route leads this host and path to an application.")
	}
	info := httpserver.ClientInfo(c, h.Cookies.DeviceCookieName())
	req := gate.Request{Action: ActionAccess, Resource: m.Resource(), Application: m.Application.ID,
		Sensitive: m.Application.Sensitive, RouteHost: m.Route.Host, RoutePath: m.Route.PathPrefix,
		IP: info.IP, UserAgent: info.UserAgent, DeviceID: info.DeviceID}
	browser := wantsPage(r, o)

	var res gate.Result
	token, present := gate.BearerToken(r)
	switch {
	case present && token == "":
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="weft", error="invalid_token"`)
		return refuse(c, http.StatusUnauthorized, ReasonInvalidToken, "The Authorization header is not a well-formed bearer token.")
	case present:
		req.Token, req.AccessTokenOnly = token, true
		if res, err = h.Gate.Check(ctx, req); err != nil {
			return err // no decision could be made: 500, never a pass
		}
		if !res.Active {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="weft", error="invalid_token"`)
			return h.unauthorized(c, o, m, false, reason(res.Reasons, gate.ReasonTokenInactive), "The access token is invalid, expired or revoked.")
		}
	default:
		cookie := h.Cookies.Session(r)
		if cookie == "" {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="weft"`)
			return h.unauthorized(c, o, m, browser, ReasonNoCredentials, "Sign in, or send a bearer access token.")
		}
		ls, err := h.Sessions.Resume(ctx, cookie)
		if errors.Is(err, identity.ErrNoSession) {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="weft"`)
			return h.unauthorized(c, o, m, browser, ReasonNoSession, "The session has ended; sign in again.")
		}
		if err != nil {
			return err
		}
		if res, err = h.Gate.DecideSession(ctx, req, ls.UserID, ls.ID); err != nil {
			return err
		}
		if !res.Active {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="weft"`)
			return h.unauthorized(c, o, m, browser, reason(res.Reasons, ReasonNoSession), "The session's user is no longer active.")
		}
	}
	switch {
	case res.StepUp != "":
		// RFC 9470: a token holder gets the challenge (and asks its client for a
		// fresh authentication); a browser gets the login page, which always asks
		// for the password again (prompt=login).
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="weft", error="insufficient_user_authentication", `+
			`error_description="Sign in again to continue", acr_values="`+headerSafe(res.StepUp)+`"`)
		return h.stepUp(c, o, m, browser, res)
	case !res.Allow:
		code := reason(res.Reasons, gate.ReasonPolicyDenied)
		h.Logger.InfoContext(ctx, "forward-auth refused", "host", o.HostKey, "path", o.Path, "application", m.Application.ID,
			"subject", res.Principal.ID, "reasons", policy.Codes(res.Reasons))
		return refuse(c, http.StatusForbidden, code, message(res.Reasons, "The policy denies this request."))
	}
	if err := h.identify(c, res); err != nil {
		return err
	}
	h.Logger.DebugContext(ctx, "forward-auth allowed", "host", o.HostKey, "path", o.Path, "application", m.Application.ID,
		"subject", res.Principal.ID)
	return c.NoContent(http.StatusOK)
}

// identify sets the identity headers of an allowed request.
func (h *Handler) identify(c echo.Context, res gate.Result) error {
	hd := c.Response().Header()
	var p Profile
	if res.Principal.Kind == policy.KindUser {
		var err error
		if p, err = h.Profiles.Profile(c.Request().Context(), res.Principal.ID); err != nil {
			return fmt.Errorf("forward-auth: read the profile of %s: %w", res.Principal.ID, err)
		}
	}
	groups := make([]string, len(p.Groups))
	for i, g := range p.Groups {
		groups[i] = encodeHeader(g, ",")
	}
	level := string(res.Risk.Level)
	if level == "" {
		level = "none"
	}
	hd.Set(HeaderSubject, encodeHeader(res.Principal.ID, ""))
	hd.Set(HeaderUser, encodeHeader(p.Username, ""))
	hd.Set(HeaderEmail, encodeHeader(p.Email, ""))
	hd.Set(HeaderGroups, strings.Join(groups, ","))
	hd.Set(HeaderRisk, "score="+strconv.Itoa(res.Risk.Score)+", level="+headerSafe(level))
	return nil
}

// unauthorized answers 401, with the login URL for a browser.
func (h *Handler) unauthorized(c echo.Context, o original, m Match, browser bool, code, detail string) error {
	h.Logger.InfoContext(c.Request().Context(), "forward-auth refused", "host", o.HostKey, "path", o.Path,
		"application", m.Application.ID, "reasons", []string{code})
	if browser {
		c.Response().Header().Set(HeaderLogin, h.loginURL(o, false))
	}
	return refuse(c, http.StatusUnauthorized, code, detail)
}

// stepUp answers 401 asking to sign in again, with the login URL (prompt=login).
func (h *Handler) stepUp(c echo.Context, o original, m Match, browser bool, res gate.Result) error {
	h.Logger.InfoContext(c.Request().Context(), "forward-auth asks for step-up", "host", o.HostKey, "path", o.Path,
		"application", m.Application.ID, "subject", res.Principal.ID, "acr", res.StepUp, "reasons", policy.Codes(res.Reasons))
	if browser {
		c.Response().Header().Set(HeaderLogin, h.loginURL(o, true))
	}
	return refuse(c, http.StatusUnauthorized, ReasonStepUp, message(res.Reasons, "Sign in again to continue."))
}

// loginURL is where a browser signs in and comes back to o's URL.
func (h *Handler) loginURL(o original, again bool) string {
	u := h.Issuer + PathLogin + "?rd=" + url.QueryEscape(o.URL())
	if again {
		u += "&prompt=login"
	}
	return u
}

// login (GET /gateway/login?rd=<url>[&prompt=login]) sends a browser to the page it
// asked for once it has a session at Weft, through Weft's login page when it has none
// or when prompt=login asks for the password again (a step-up: the login page always
// authenticates anew, and the fresh session replaces the old one). rd must be a URL
// that a route covers: anything else is refused, so this is never an open redirect.
func (h *Handler) login(c echo.Context) error {
	target, ok := h.returnURL(c.QueryParam("rd"))
	if !ok {
		return refuse(c, http.StatusBadRequest, ReasonBadRequest,
			"rd must be the http(s) URL of a page behind a gateway route of this Weft.")
	}
	switch c.QueryParam("prompt") {
	case "":
		if _, _, live := h.Browser.Live(c.Request().Context(), c.Request()); live {
			return c.Redirect(http.StatusSeeOther, target)
		}
	case "login":
	default:
		return refuse(c, http.StatusBadRequest, ReasonBadRequest, "prompt may only be login.")
	}
	// Back here after the login, without prompt, so the browser does not loop.
	next := PathLogin + "?rd=" + url.QueryEscape(target)
	return c.Redirect(http.StatusSeeOther, access.PathLogin+"?next="+url.QueryEscape(next))
}

// returnURL validates where a browser may be sent after login: an absolute http or https
// URL without user information whose host and path a route covers (the port is ignored,
// as in matching). It returns the URL re-serialised.
func (h *Handler) returnURL(rd string) (string, bool) {
	if rd == "" || len(rd) > maxURILen || strings.ContainsAny(rd, "\r\n\t\\ ") {
		return "", false
	}
	u, err := url.Parse(rd)
	if err != nil || u.Opaque != "" || u.User != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", false
	}
	key, ok := hostKey(u.Host)
	if !ok {
		return "", false
	}
	p, ok := matchPath(u.Path)
	if !ok {
		return "", false
	}
	if _, ok := h.Routes.Match(key, p); !ok {
		return "", false
	}
	u.Fragment, u.RawFragment = "", ""
	return u.String(), true
}

// wantsPage reports whether the original request is a browser asking for a page: no
// Authorization header, a safe method, and HTML acceptable. Only then does a 401 carry
// the login URL that proxies redirect to; an API client gets the plain 401.
func wantsPage(r *http.Request, o original) bool {
	if r.Header.Get(echo.HeaderAuthorization) != "" || (o.Method != http.MethodGet && o.Method != http.MethodHead) {
		return false
	}
	return strings.Contains(r.Header.Get(echo.HeaderAccept), "text/html")
}

// refuse answers status as problem+json with the reason code in X-Weft-Reason and
// the body's "error" member.
func refuse(c echo.Context, status int, code, detail string) error {
	code = headerSafe(code)
	c.Response().Header().Set(HeaderReason, code)
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return &httpserver.Problem{Status: status, Title: http.StatusText(status), Code: code, Detail: detail}
}

// reason is the first reason's code, or def.
func reason(rs []policy.Reason, def string) string {
	if len(rs) > 0 && rs[0].Code != "" {
		return rs[0].Code
	}
	return def
}

func message(rs []policy.Reason, def string) string {
	if len(rs) > 0 && rs[0].Message != "" {
		return rs[0].Message
	}
	return def
}

// encodeHeader percent-encodes the bytes of s outside printable ASCII, '%', '"' and
// those in extra, so that any UTF-8 value travels in a header unchanged and unambiguous.
func encodeHeader(s, extra string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b > 0x7e || b == '%' || b == '"' || strings.IndexByte(extra, b) >= 0 {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b < 0x20 || b > 0x7e || b == '%' || b == '"' || strings.IndexByte(extra, b) >= 0 {
			fmt.Fprintf(&sb, "%%%02X", b)
			continue
		}
		sb.WriteByte(b)
	}
	return sb.String()
}

// headerSafe keeps a code (from the policy, the risk engine) to token characters.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x80 && (isToken(string(r)) || r == ':' || r == '/' || r == '.') {
			return r
		}
		return '_'
	}, s)
}
