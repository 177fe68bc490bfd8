package revocationapi

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/weft-fabric/weft/access/gate"
	"github.com/weft-fabric/weft/access/httpserver"
	"github.com/weft-fabric/weft/access/revocation"
	"github.com/weft-fabric/weft/identity"
)

// ScopeRevoke lets a client (a SOAR tool) call the revocation API.
const ScopeRevoke = "weft:revoke"

// Handler serves POST /api/v1/revocations and GET /api/v1/revocations/{id}.
type Handler struct {
	Revocations *revocation.Service
	// Gate authenticates SOAR tools' bearer tokens (scope weft:revoke).
	Gate *gate.Gate
	// Users changes a user's status for "suspend": true (identity.Directory).
	Users revocation.StatusChanger
	// Clients and Machines disable for "disable": true (access.Clients,
	// identity.Directory).
	Clients  revocation.ClientStatusSetter
	Machines revocation.MachineStatusSetter
	// Admins decides whether a person's token may revoke (identity.Directory).
	Admins gate.Admins
}

// Register mounts the routes.
func (a *Handler) Register(e *echo.Echo) {
	e.POST("/api/v1/revocations", a.create)
	e.GET("/api/v1/revocations/:id", a.get)
}

type revocationView struct {
	ID             string              `json:"id"`
	Selector       revocation.Selector `json:"selector"`
	Reason         string              `json:"reason"`
	Suspend        bool                `json:"suspend"`
	Disable        bool                `json:"disable"`
	Actor          string              `json:"actor"`
	IdempotencyKey string              `json:"idempotency_key,omitempty"`
	Matched        matched             `json:"matched"`
	Status         string              `json:"status"`
	// Fanout explains a "degraded" status: the bus could not carry the revocation.
	Fanout     string     `json:"fanout,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	Nodes      nodesView  `json:"nodes"`
	Deliveries []delivery `json:"deliveries"`
}

// nodesView is where the revocation landed inside Weft. Acknowledged and Missing are
// what the answering node learned while it waited (bounded) before answering; Applied
// grows as nodes that missed it catch up from the durable log.
type nodesView struct {
	Acknowledged []string                     `json:"acknowledged"`
	Missing      []string                     `json:"missing"`
	Applied      []revocation.NodeApplication `json:"applied"`
}

// delivery is one message to a relying party, as the receipt shows it.
type delivery struct {
	Kind          string     `json:"kind"`
	Target        string     `json:"target"`
	Attempts      int        `json:"attempts"`
	DeliveredAt   *time.Time `json:"delivered_at"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	FailedAt      *time.Time `json:"failed_at,omitempty"` // given up for good
}

type matched struct {
	Sessions int64 `json:"sessions"`
	Tokens   int64 `json:"tokens"`
}

func viewRevocation(r revocation.Record, applied []revocation.NodeApplication) revocationView {
	v := revocationView{ID: r.ID, Selector: r.Selector, Reason: r.Reason, Suspend: r.Suspend, Disable: r.Disable, Actor: r.Actor,
		IdempotencyKey: r.IdempotencyKey, Matched: matched{r.Sessions, r.Tokens}, CreatedAt: r.CreatedAt,
		Nodes:      nodesView{Acknowledged: []string{}, Missing: []string{}, Applied: applied},
		Deliveries: []delivery{}}
	if v.Nodes.Applied == nil {
		v.Nodes.Applied = []revocation.NodeApplication{}
	}
	if r.Fanout != nil {
		v.Nodes.Acknowledged, v.Nodes.Missing = r.Fanout.Acknowledged, r.Fanout.Missing
	}
	// "applied": durable, and applied on every node that was live when it was
	// answered; "catching_up": a node that did not acknowledge in time has not
	// replayed it yet (it serves nothing from memory until it has).
	v.Status = "applied"
	for _, n := range v.Nodes.Missing {
		if !slices.ContainsFunc(v.Nodes.Applied, func(a revocation.NodeApplication) bool { return a.Node == n }) {
			v.Status = "catching_up"
		}
	}
	return v
}

// caller authenticates the bearer token and requires weft:revoke (and, for a person's
// token, membership of weft-admins); it returns the actor: the client, and the person.
func (a *Handler) caller(c echo.Context) (string, error) {
	cl, err := a.Gate.Operator(c, a.Admins, "revocations", ScopeRevoke)
	return cl.Actor(), err
}

type revokeRequest struct {
	Selector *revocation.Selector `json:"selector"`
	Reason   string               `json:"reason"`
	Suspend  bool                 `json:"suspend"`
	// Disable also disables the client or machine identity the selector names, in the
	// same transaction: its credential stops working, not only its tokens.
	Disable bool `json:"disable"`
}

func (a *Handler) create(c echo.Context) error {
	actor, err := a.caller(c)
	if err != nil {
		return err
	}
	var in revokeRequest
	if err := httpserver.DecodeJSON(c, &in, 64<<10); err != nil {
		return err
	}
	if in.Selector == nil {
		return &httpserver.Problem{Status: http.StatusBadRequest, Title: "Invalid request",
			Detail: `The body must be JSON: {"selector":{"type":"token|session|subject|client","value":"..."},"reason":"...","suspend":false,"disable":false}.`}
	}
	ctx, key := c.Request().Context(), c.Request().Header.Get("Idempotency-Key")
	var (
		rec      revocation.Record
		replayed bool
	)
	switch {
	case in.Suspend && in.Disable:
		err = &identity.ValidationError{Field: "disable", Reason: "give suspend (a user) or disable (a client or machine identity), not both"}
	case in.Disable:
		rec, replayed, err = a.Revocations.Disable(ctx, a.Clients, a.Machines, actor, key, *in.Selector, in.Reason)
	case !in.Suspend:
		rec, replayed, err = a.Revocations.Revoke(ctx, actor, key, *in.Selector, in.Reason)
	case strings.TrimSpace(in.Selector.Type) != revocation.SelectSubject:
		err = &identity.ValidationError{Field: "suspend", Reason: "applies to a subject selector only"}
	default:
		rec, replayed, err = a.Revocations.Suspend(ctx, a.Users, actor, key, strings.TrimSpace(in.Selector.Value), in.Reason)
	}
	if errors.Is(err, revocation.ErrKeyReused) {
		// RFC 9110 422 (and the IETF Idempotency-Key draft): the key names another request.
		return &httpserver.Problem{Status: http.StatusUnprocessableEntity, Title: "Idempotency-Key reused",
			Detail: "This Idempotency-Key was already used for a different revocation request; nothing was revoked. Use a new key for a new request."}
	}
	var ve *identity.ValidationError
	if errors.As(err, &ve) {
		return &httpserver.Problem{Status: http.StatusBadRequest, Title: "Invalid revocation", Detail: ve.Error()}
	}
	var fe *revocation.FanoutError
	degraded := errors.As(err, &fe) && rec.ID != ""
	if err != nil && !degraded {
		return err
	}
	if replayed { // the first answer's fan-out was recorded since
		if rec, err = a.Revocations.Record(c.Request().Context(), rec.ID); err != nil {
			return err
		}
	}
	v, err := a.receipt(c, rec)
	if err != nil {
		return err
	}
	if degraded {
		// Recorded and in force here; the caller gets its id and an honest receipt, not a
		// 500 that would make it retry or alert on a revocation that happened.
		v.Status = "degraded"
		v.Fanout = "The revocation is recorded and applied on this node, but the fan-out bus is unreachable. " +
			"Other nodes stop answering from memory once their freshness lease lapses (100 ms) and apply it from the durable log; " +
			"nodes.applied shows them as they do."
	}
	c.Response().Header().Set("Location", "/api/v1/revocations/"+rec.ID)
	c.Response().Header().Set("Cache-Control", "no-store")
	if replayed {
		return c.JSON(http.StatusOK, v)
	}
	return c.JSON(http.StatusCreated, v)
}

// receipt is the revocation with where it landed: nodes and relying parties.
func (a *Handler) receipt(c echo.Context, rec revocation.Record) (revocationView, error) {
	applied, err := a.Revocations.Applications(c.Request().Context(), rec.ID)
	if err != nil {
		return revocationView{}, err
	}
	msgs, err := a.Revocations.Deliveries(c.Request().Context(), rec.ID)
	if err != nil {
		return revocationView{}, err
	}
	v := viewRevocation(rec, applied)
	for _, m := range msgs {
		d := delivery{Kind: m.Kind, Target: m.Target, Attempts: m.Attempts, DeliveredAt: m.DeliveredAt, LastError: m.LastError,
			FailedAt: m.FailedAt}
		// A polled message waits for its receiver, not for a retry; a failed one waits
		// for nothing.
		if m.DeliveredAt == nil && m.FailedAt == nil && !m.Pull {
			next := m.NextAttemptAt
			d.NextAttemptAt = &next
		}
		v.Deliveries = append(v.Deliveries, d)
	}
	return v, nil
}

func (a *Handler) get(c echo.Context) error {
	if _, err := a.caller(c); err != nil {
		return err
	}
	rec, err := a.Revocations.Record(c.Request().Context(), c.Param("id"))
	if errors.Is(err, identity.ErrNotFound) {
		return &httpserver.Problem{Status: http.StatusNotFound, Title: "Not found", Detail: "No such revocation."}
	}
	if err != nil {
		return err
	}
	v, err := a.receipt(c, rec)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, v)
}
