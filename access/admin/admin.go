package admin

import (
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/gate"
	"github.com/weft-fabric/weft/access/revocation"
	"github.com/weft-fabric/weft/identity"
)

// Prefix is where the API is mounted.
const Prefix = "/api/v1"

// Handler serves the admin API. Directory and Clients must share one Transactor (they
// do in cmd/weft: one database), because a client is created inside a transaction the
// handler opens through the Directory.
type Handler struct {
	Directory *identity.Directory
	Clients   *access.Clients
	// Gate authenticates bearer tokens (scopes weft:admin, weft:admin:read).
	Gate   *gate.Gate
	Logger *slog.Logger
	// Audit records every successful change in the audit log.
	Audit access.AuditRecorder
	// Sessions, SessionTokens and Revocations serve /sessions; status changes revoke
	// through Revocations.
	Sessions      *identity.Sessions
	SessionTokens access.SessionTokens
	Revocations   *revocation.Service
	// Applications and Routes serve /applications: what forward-auth protects, and the
	// gateway routes (host and path prefix) that lead to each. They share Directory's
	// database, so an application and its routes change in one transaction.
	Applications *identity.Applications
	Routes       *access.Routes
}

// New checks that h has every dependency (a nil Logger discards): a handler without
// its audit trail or its revocation service must not start.
func New(h Handler) (*Handler, error) {
	if err := access.CheckDeps("admin.New", map[string]bool{"Directory": h.Directory == nil, "Clients": h.Clients == nil, "Gate": h.Gate == nil,
		"Audit": h.Audit == nil, "Sessions": h.Sessions == nil, "SessionTokens": h.SessionTokens == nil, "Revocations": h.Revocations == nil,
		"Applications": h.Applications == nil, "Routes": h.Routes == nil}); err != nil {
		return nil, err
	}
	if h.Logger == nil {
		h.Logger = slog.New(slog.DiscardHandler)
	}
	return &h, nil
}

// route is one endpoint of the API; routes is the whole API, so that Register and the
// tests that keep the OpenAPI document honest read the same table.
type route struct {
	method, path string
	handle       func(*Handler, echo.Context) error
}

var routes = []route{
	{http.MethodGet, "/users", (*Handler).listUsers},
	{http.MethodPost, "/users", (*Handler).createUser},
	{http.MethodGet, "/users/:id", (*Handler).getUser},
	{http.MethodPatch, "/users/:id", (*Handler).patchUser},
	{http.MethodPut, "/users/:id/password", (*Handler).setPassword},
	{http.MethodGet, "/users/:id/groups", (*Handler).groupsOfUser},

	{http.MethodGet, "/groups", (*Handler).listGroups},
	{http.MethodPost, "/groups", (*Handler).createGroup},
	{http.MethodGet, "/groups/:id", (*Handler).getGroup},
	{http.MethodPatch, "/groups/:id", (*Handler).patchGroup},
	{http.MethodDelete, "/groups/:id", (*Handler).deleteGroup},
	{http.MethodGet, "/groups/:id/members", (*Handler).listMembers},
	{http.MethodPut, "/groups/:id/members/:user_id", (*Handler).addMember},
	{http.MethodDelete, "/groups/:id/members/:user_id", (*Handler).removeMember},

	{http.MethodGet, "/machine-identities", (*Handler).listMachines},
	{http.MethodPost, "/machine-identities", (*Handler).createMachine},
	{http.MethodGet, "/machine-identities/:id", (*Handler).getMachine},
	{http.MethodPatch, "/machine-identities/:id", (*Handler).patchMachine},
	{http.MethodPost, "/machine-identities/:id/disable", (*Handler).disableMachine},
	{http.MethodPost, "/machine-identities/:id/enable", (*Handler).enableMachine},

	{http.MethodGet, "/clients", (*Handler).listClients},
	{http.MethodPost, "/clients", (*Handler).createClient},
	{http.MethodGet, "/clients/:id", (*Handler).getClient},
	{http.MethodPost, "/clients/:id/disable", (*Handler).disableClient},
	{http.MethodPost, "/clients/:id/enable", (*Handler).enableClient},
	{http.MethodPost, "/clients/:id/secret", (*Handler).rotateClientSecret},

	{http.MethodGet, "/applications", (*Handler).listApplications},
	{http.MethodPost, "/applications", (*Handler).createApplication},
	{http.MethodGet, "/applications/:id", (*Handler).getApplication},
	{http.MethodPatch, "/applications/:id", (*Handler).patchApplication},
	{http.MethodDelete, "/applications/:id", (*Handler).deleteApplication},
	{http.MethodGet, "/applications/:id/routes", (*Handler).listRoutes},
	{http.MethodPut, "/applications/:id/routes", (*Handler).putRoutes},

	{http.MethodGet, "/sessions", (*Handler).listSessions},
	{http.MethodGet, "/sessions/:id", (*Handler).getSession},
	{http.MethodDelete, "/sessions/:id", (*Handler).deleteSession},
}

// Register mounts the API on e. The group has no group-level middleware on purpose:
// echo would then add catch-all routes under the prefix; each route carries its own.
func (h *Handler) Register(e *echo.Echo) {
	g := e.Group(Prefix)
	g.GET(openAPIPath, h.openAPI)
	for _, r := range routes {
		write := r.method != http.MethodGet && r.method != http.MethodHead
		g.Add(r.method, r.path, func(c echo.Context) error { return r.handle(h, c) }, renderValidation, h.authenticate(write))
	}
}

func (h *Handler) logger() *slog.Logger { return h.Logger }
