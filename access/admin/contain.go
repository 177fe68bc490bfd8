package admin

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/revocation"
	"github.com/weft-fabric/weft/identity"
)

// Containment: disabling and enabling clients and machine identities, and rotating a
// client's secret. Disabling revokes through the revocation service (it observes both
// registries), so the answer comes once every node refuses the client or machine
// identity and its tokens.

// statusChangeRequest is the optional body of disable and enable.
type statusChangeRequest struct {
	Reason string `json:"reason"`
}

// rotateSecretRequest is the optional body of a secret rotation.
type rotateSecretRequest struct {
	// Overlap is how long the old secret keeps working, as a Go duration ("1h",
	// "90m"); absent or "0s" means it stops at once.
	Overlap string `json:"overlap"`
}

// clientStatusView answers disable and enable: the client, and the revocation that
// disabling made (absent when nothing changed, or on enable).
type clientStatusView struct {
	clientView
	RevocationID string `json:"revocation_id,omitempty"`
}

// machineStatusView is clientStatusView for a machine identity.
type machineStatusView struct {
	machineView
	RevocationID string `json:"revocation_id,omitempty"`
}

// rotatedSecretView answers a rotation: the only time the new secret is shown.
type rotatedSecretView struct {
	clientView
	ClientSecret string `json:"client_secret"`
}

// readStatusChange reads the optional {"reason": "..."} of a status change, with a
// default reason for the audit log.
func readStatusChange(c echo.Context, defaultReason string) (string, error) {
	var in statusChangeRequest
	if c.Request().ContentLength != 0 || c.Request().Header.Get(echo.HeaderContentType) != "" {
		if err := decode(c, &in); err != nil {
			return "", err
		}
	}
	if len(in.Reason) > 1024 {
		return "", invalid("reason", "must be at most 1024 characters")
	}
	if strings.TrimSpace(in.Reason) == "" {
		return defaultReason, nil
	}
	return strings.TrimSpace(in.Reason), nil
}

func revocationID(rec *revocation.Record) string {
	if rec == nil {
		return ""
	}
	return rec.ID
}

// disableClient: POST /clients/{id}/disable.
func (h *Handler) disableClient(c echo.Context) error {
	return h.setClientStatus(c, access.ClientDisabled)
}

// enableClient: POST /clients/{id}/enable.
func (h *Handler) enableClient(c echo.Context) error {
	return h.setClientStatus(c, access.ClientActive)
}

func (h *Handler) setClientStatus(c echo.Context, st access.ClientStatus) error {
	verb := map[access.ClientStatus]string{access.ClientDisabled: "disabled", access.ClientActive: "enabled"}[st]
	reason, err := readStatusChange(c, "client "+verb+" through the admin API")
	if err != nil {
		return err
	}
	cl, rec, err := h.Revocations.ChangeClientStatus(c.Request().Context(), h.Clients,
		identity.Change{Actor: caller(c).clientID, Reason: reason}, c.Param("id"), st)
	if err != nil {
		return missing(err, "client")
	}
	return c.JSON(http.StatusOK, clientStatusView{clientView: viewClient(cl), RevocationID: revocationID(rec)})
}

// rotateClientSecret: POST /clients/{id}/secret. Weft generates the new secret and
// shows it in this answer only.
func (h *Handler) rotateClientSecret(c echo.Context) error {
	var in rotateSecretRequest
	if c.Request().ContentLength != 0 || c.Request().Header.Get(echo.HeaderContentType) != "" {
		if err := decode(c, &in); err != nil {
			return err
		}
	}
	var overlap time.Duration
	if in.Overlap != "" {
		d, err := time.ParseDuration(in.Overlap)
		if err != nil {
			return invalid("overlap", `must be a duration such as "1h" or "30m"`)
		}
		overlap = d
	}
	ctx := identity.WithChange(c.Request().Context(), &identity.Change{Actor: caller(c).clientID, Reason: "client secret rotated through the admin API"})
	rot, err := h.Clients.RotateSecret(ctx, c.Param("id"), overlap)
	if err != nil {
		return missing(err, "client")
	}
	return c.JSON(http.StatusOK, rotatedSecretView{clientView: viewClient(rot.Client), ClientSecret: rot.Secret})
}

// disableMachine: POST /machine-identities/{id}/disable.
func (h *Handler) disableMachine(c echo.Context) error {
	return h.setMachineStatus(c, identity.StatusDisabled)
}

// enableMachine: POST /machine-identities/{id}/enable.
func (h *Handler) enableMachine(c echo.Context) error {
	return h.setMachineStatus(c, identity.StatusActive)
}

func (h *Handler) setMachineStatus(c echo.Context, st identity.Status) error {
	verb := map[identity.Status]string{identity.StatusDisabled: "disabled", identity.StatusActive: "enabled"}[st]
	reason, err := readStatusChange(c, "machine identity "+verb+" through the admin API")
	if err != nil {
		return err
	}
	m, rec, err := h.Revocations.ChangeMachineStatus(c.Request().Context(), h.Directory,
		identity.Change{Actor: caller(c).clientID, Reason: reason}, c.Param("id"), st)
	if err != nil {
		return missing(err, "machine identity")
	}
	return c.JSON(http.StatusOK, machineStatusView{machineView: viewMachine(m), RevocationID: revocationID(rec)})
}
