package admin

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/weft-fabric/weft/identity"
)

type machineView struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	OwnerID     string    `json:"owner_id"`
	Status      string    `json:"status"` // active or disabled
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func viewMachine(m identity.MachineIdentity) machineView {
	st := m.Status
	if st == "" {
		st = identity.StatusActive
	}
	return machineView{ID: m.ID, Name: m.Name, Description: m.Description, OwnerID: m.OwnerID, Status: string(st),
		CreatedAt: m.CreatedAt.UTC(), UpdatedAt: m.UpdatedAt.UTC()}
}

type createMachineRequest struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	OwnerID     string `json:"owner_id"`
}

// patchMachineRequest: absent (or null) fields are left alone; the name is the
// machine identity's identity and does not change.
type patchMachineRequest struct {
	Description *string `json:"description"`
	OwnerID     *string `json:"owner_id"`
}

// listMachines: GET /machine-identities?limit=&after=&name=.
func (h *Handler) listMachines(c echo.Context) error {
	ctx := c.Request().Context()
	page, err := pageFrom(c)
	if err != nil {
		return err
	}
	if name := c.QueryParam("name"); name != "" {
		m, err := h.Directory.MachineByName(ctx, name)
		if err != nil && !notFoundOrInvalid(err) {
			return err
		}
		return c.JSON(http.StatusOK, listOf(oneOrNone(m, err == nil), viewMachine, ""))
	}
	machines, next, err := h.Directory.ListMachines(ctx, page)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, listOf(machines, viewMachine, next))
}

// createMachine: POST /machine-identities.
func (h *Handler) createMachine(c echo.Context) error {
	var in createMachineRequest
	if err := decode(c, &in); err != nil {
		return err
	}
	m, err := h.Directory.CreateMachine(c.Request().Context(), identity.NewMachine{Name: in.Name, Description: in.Description, OwnerID: in.OwnerID})
	if err != nil {
		return renameField(err, "owner", "owner_id")
	}
	return created(c, "/machine-identities", m.ID, viewMachine(m))
}

// getMachine: GET /machine-identities/{id}.
func (h *Handler) getMachine(c echo.Context) error {
	m, err := h.Directory.MachineByID(c.Request().Context(), c.Param("id"))
	if err != nil {
		return missing(err, "machine identity")
	}
	return c.JSON(http.StatusOK, viewMachine(m))
}

// patchMachine: PATCH /machine-identities/{id}. The read and the update share one
// transaction.
func (h *Handler) patchMachine(c echo.Context) error {
	var in patchMachineRequest
	if err := decode(c, &in); err != nil {
		return err
	}
	id := c.Param("id")
	var out identity.MachineIdentity
	err := h.Directory.InTx(c.Request().Context(), func(ctx context.Context) error {
		m, err := h.Directory.MachineByID(ctx, id)
		if err != nil {
			return err
		}
		description, owner := m.Description, m.OwnerID
		if in.Description != nil {
			description = *in.Description
		}
		if in.OwnerID != nil {
			owner = *in.OwnerID
		}
		out, _, err = h.Directory.UpdateMachine(ctx, id, description, owner)
		return err
	})
	if err != nil {
		return missing(renameField(err, "owner", "owner_id"), "machine identity")
	}
	return c.JSON(http.StatusOK, viewMachine(out))
}
