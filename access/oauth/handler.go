package oauth

import (
	"context"
	"log/slog"
	"sync/atomic"

	"github.com/labstack/echo/v4"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/gate"
	"github.com/weft-fabric/weft/access/throttle"
	"github.com/weft-fabric/weft/access/websession"
	"github.com/weft-fabric/weft/identity"
)

// Handler serves the OAuth 2.0 / OIDC endpoints. fosite endpoints delegate to the
// provider completely: fosite writes the RFC-shaped response, so handlers return nil.
type Handler struct {
	Provider *Provider
	// Gate decides every introspection and userinfo call (subject, risk, policy).
	Gate    *gate.Gate
	Clients access.ClientLookup
	Keys    access.JWKS
	Logger  *slog.Logger

	Directory *identity.Directory
	Sessions  *identity.Sessions
	Consents  access.ConsentStore
	Cookies   websession.Cookies
	Browser   *websession.Browser
	// Logout ends a session that logs out, everywhere (the revocation service).
	Logout SessionEnder
	// ConfirmLogout renders the logout confirmation page, SignedOut the page a logout
	// without a post_logout_redirect_uri ends on.
	ConfirmLogout LogoutConfirm
	SignedOut     SignedOutPage
	// Audit receives security events (refresh token reuse, code replay).
	Audit access.AuditRecorder
	// ClientThrottle counts failed client authentications that checked no secret (the
	// provider's SecretVerifier counts the others, through the same throttle).
	ClientThrottle *throttle.ClientAuth

	lean *atomic.Uint64 // introspections answered by the lean path
}

// SessionEnder ends a login session everywhere: its tokens revoked on every node,
// back-channel logout to its clients, CAEP session-revoked to SSF receivers, a receipt
// (access/revocation.Service implements it).
type SessionEnder interface {
	EndSession(ctx context.Context, actor, sid, reason string) error
}

// NewHandler checks that h has every dependency: a handler missing one would silently
// skip a security behaviour (logout revoking, back-channel logout, the audit trail).
// A nil Logger discards.
func NewHandler(h Handler) (*Handler, error) {
	if err := access.CheckDeps("oauth.NewHandler", map[string]bool{"Provider": h.Provider == nil, "Gate": h.Gate == nil, "Clients": h.Clients == nil, "Keys": h.Keys == nil,
		"Directory": h.Directory == nil, "Sessions": h.Sessions == nil, "Consents": h.Consents == nil, "Browser": h.Browser == nil,
		"Logout": h.Logout == nil, "ConfirmLogout": h.ConfirmLogout == nil, "SignedOut": h.SignedOut == nil, "Audit": h.Audit == nil,
		"ClientThrottle": h.ClientThrottle == nil}); err != nil {
		return nil, err
	}
	if h.Logger == nil {
		h.Logger = slog.New(slog.DiscardHandler)
	}
	h.lean = new(atomic.Uint64)
	return &h, nil
}

// LeanIntrospections counts introspections answered without fosite's request handling
// (a verified caller, an active access token): most of a gateway's calls.
func (h *Handler) LeanIntrospections() uint64 { return h.lean.Load() }

// Register mounts the endpoints.
func (h *Handler) Register(e *echo.Echo) {
	e.GET(access.PathDiscovery, h.discovery)
	e.GET(access.PathJWKS, h.jwks)
	e.POST(access.PathToken, h.token)
	e.POST(access.PathIntrospect, h.introspect)
	e.POST(access.PathRevoke, h.revoke)
	e.GET(access.PathAuthorize, h.authorize)
	e.POST(access.PathAuthorize, h.authorize)
	e.GET(access.PathUserinfo, h.userinfo)
	e.POST(access.PathUserinfo, h.userinfo)
	e.GET(access.PathLogout, h.logout)
	e.POST(access.PathLogout, h.logout)
}
