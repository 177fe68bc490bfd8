package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/identity"
)

// JSON views: stable field names for scripts, independent of Go field names.

type userView struct {
	ID          string   `json:"id"`
	Username    string   `json:"username"`
	Email       string   `json:"email,omitempty"`
	DisplayName string   `json:"display_name,omitempty"`
	Status      string   `json:"status"`
	Groups      []string `json:"groups,omitempty"`
	CreatedAt   string   `json:"created_at"`
	UpdatedAt   string   `json:"updated_at"`
}

func viewUser(u identity.User) userView {
	return userView{ID: u.ID, Username: u.Username, Email: u.Email, DisplayName: u.DisplayName,
		Status: string(u.Status), CreatedAt: stamp(u.CreatedAt), UpdatedAt: stamp(u.UpdatedAt)}
}

type groupView struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Members     []string `json:"members,omitempty"`
	CreatedAt   string   `json:"created_at"`
	UpdatedAt   string   `json:"updated_at"`
}

func viewGroup(g identity.Group) groupView {
	return groupView{ID: g.ID, Name: g.Name, Description: g.Description, CreatedAt: stamp(g.CreatedAt), UpdatedAt: stamp(g.UpdatedAt)}
}

type machineView struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	OwnerID     string `json:"owner_id"`
	Status      string `json:"status"`
	CreatedAt   string `json:"created_at"`
}

func viewMachine(m identity.MachineIdentity) machineView {
	st := m.Status
	if st == "" {
		st = identity.StatusActive
	}
	return machineView{ID: m.ID, Name: m.Name, Description: m.Description, OwnerID: m.OwnerID, Status: string(st), CreatedAt: stamp(m.CreatedAt)}
}

type clientView struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	Type         string   `json:"type"`
	RedirectURIs []string `json:"redirect_uris"`
	GrantTypes   []string `json:"grant_types"`
	Scopes       []string `json:"scopes"`
	OwnerID      string   `json:"owner_id,omitempty"`
	Status       string   `json:"status"`
	// PreviousSecretExpiresAt is when the secret a rotation replaced stops working.
	PreviousSecretExpiresAt string `json:"rotation_overlap_until,omitempty"`
	CreatedAt               string `json:"created_at"`
}

func viewClient(c access.Client) clientView {
	v := clientView{ID: c.ID, Name: c.Name, Type: string(c.Type), RedirectURIs: c.RedirectURIs,
		GrantTypes: c.GrantTypes, Scopes: c.Scopes, OwnerID: c.OwnerID, Status: string(access.ClientActive), CreatedAt: stamp(c.CreatedAt)}
	if c.Disabled() {
		v.Status = string(access.ClientDisabled)
	}
	if c.PreviousSecretHash != "" {
		v.PreviousSecretExpiresAt = stamp(c.PreviousSecretExpiresAt)
	}
	return v
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes aligned columns; cells are sanitised so a hostile display name cannot
// inject terminal escapes or break the layout.
func table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		clean := make([]string, len(r))
		for i, cell := range r {
			clean[i] = sanitize(cell)
		}
		fmt.Fprintln(tw, strings.Join(clean, "\t"))
	}
	return tw.Flush()
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
