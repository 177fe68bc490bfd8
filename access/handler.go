package access

import (
	"context"
	"log/slog"

	"github.com/labstack/echo/v4"

	"github.com/weft-fabric/weft/identity"
)

// ClientLookup finds client definitions (cached by the caller's choice).
type ClientLookup interface {
	Client(ctx context.Context, id string) (Client, error)
}

// JWKS serves the public signing keys and verifies our own signatures (access/keys
// implements it).
type JWKS interface {
	JWKSJSON(ctx context.Context) ([]byte, error)
	// Verify checks a compact JWS against every published key, refusing "none" and
	// HMAC algorithms, and returns its payload.
	Verify(ctx context.Context, compact string) ([]byte, error)
}

// AuditRecorder appends to the audit log (identity.AuditLog implements it).
type AuditRecorder interface {
	Record(ctx context.Context, kind, actor, subject string, detail map[string]any) error
}

// Handler serves the OAuth 2.0 / OIDC endpoints. fosite endpoints delegate to the
// provider completely: fosite writes the RFC-shaped response, so handlers return nil.
type Handler struct {
	Provider *Provider
	Clients  ClientLookup
	Keys     JWKS
	Logger   *slog.Logger

	Directory *identity.Directory
	Sessions  *identity.Sessions
	Consents  ConsentStore
	Cookies   Cookies
	// Revoker, when set, revokes the tokens of a session that logs out.
	Revoker SessionRevoker
	// ConfirmLogout renders the logout confirmation page.
	ConfirmLogout LogoutConfirm
	// Audit, when set, receives security events.
	Audit AuditRecorder
	// Outbox and Participants, when set, send back-channel logout tokens to the other
	// clients of a session that ends by RP-initiated logout.
	Outbox       OutboxStore
	Participants SessionClients
}

// Register mounts the endpoints.
func (h *Handler) Register(e *echo.Echo) {
	e.GET(PathDiscovery, h.discovery)
	e.GET(PathJWKS, h.jwks)
	e.POST(PathToken, h.token)
	e.POST(PathIntrospect, h.introspect)
	e.POST(PathRevoke, h.revoke)
	e.GET(PathAuthorize, h.authorize)
	e.POST(PathAuthorize, h.authorize)
	e.GET(PathUserinfo, h.userinfo)
	e.POST(PathUserinfo, h.userinfo)
	e.GET(PathLogout, h.logout)
	e.POST(PathLogout, h.logout)
}
