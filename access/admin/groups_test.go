package admin

import (
	"net/http"
	"net/url"
	"slices"
	"testing"
)

func TestGroups_LifecycleAndMembers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		var g groupView
		r := en.do(http.MethodPost, "/api/v1/groups", tokAdmin, `{"name":"Engineering","description":"Builds"}`)
		en.ok(http.StatusCreated, r, &g)
		if g.ID == "" || g.Name != "Engineering" || g.Description != "Builds" || r.header.Get("Location") != "/api/v1/groups/"+g.ID {
			t.Fatalf("created %+v, Location %q", g, r.header.Get("Location"))
		}
		var got groupView
		en.ok(http.StatusOK, en.do(http.MethodGet, "/api/v1/groups/"+g.ID, tokRead, nil), &got)
		if got != g {
			t.Fatalf("GET = %+v", got)
		}
		en.ok(http.StatusOK, en.do(http.MethodPatch, "/api/v1/groups/"+g.ID, tokAdmin, `{"description":"Builds and runs"}`), &got)
		if got.Description != "Builds and runs" || got.Name != "Engineering" {
			t.Fatalf("PATCH = %+v", got)
		}
		en.ok(http.StatusOK, en.do(http.MethodPatch, "/api/v1/groups/"+g.ID, tokAdmin, `{}`), &got)
		if got.Description != "Builds and runs" {
			t.Fatalf("empty PATCH = %+v", got)
		}
		problemOf(t, en.do(http.MethodPost, "/api/v1/groups", tokAdmin, `{"name":"ENGINEERING"}`), 409)

		var groups list[groupView]
		en.ok(http.StatusOK, en.do(http.MethodGet, "/api/v1/groups", tokRead, nil), &groups)
		if len(groups.Items) != 2 || groups.Items[0].Name != "Engineering" || groups.Items[1].Name != "weft-admins" {
			t.Fatalf("list = %+v", groups)
		}
		en.ok(http.StatusOK, en.do(http.MethodGet, "/api/v1/groups?name=engineering", tokRead, nil), &groups)
		if len(groups.Items) != 1 || groups.Items[0].ID != g.ID {
			t.Fatalf("by name = %+v", groups)
		}

		// Membership: PUT and DELETE are idempotent.
		member := "/api/v1/groups/" + g.ID + "/members/"
		for range 2 {
			en.ok(http.StatusNoContent, en.do(http.MethodPut, member+en.plain.ID, tokAdmin, nil), nil)
		}
		en.ok(http.StatusNoContent, en.do(http.MethodPut, member+en.root.ID, tokAdmin, nil), nil)
		var members list[userView]
		en.ok(http.StatusOK, en.do(http.MethodGet, "/api/v1/groups/"+g.ID+"/members", tokRead, nil), &members)
		if len(members.Items) != 2 || members.Items[0].ID != en.plain.ID || members.Items[1].ID != en.root.ID {
			t.Fatalf("members = %+v", members)
		}
		// Members page too.
		en.ok(http.StatusOK, en.do(http.MethodGet, "/api/v1/groups/"+g.ID+"/members?limit=1", tokRead, nil), &members)
		if len(members.Items) != 1 || members.Items[0].ID != en.plain.ID || members.Next == "" {
			t.Fatalf("first page = %+v", members)
		}
		en.ok(http.StatusOK, en.do(http.MethodGet, "/api/v1/groups/"+g.ID+"/members?limit=1&after="+url.QueryEscape(members.Next), tokRead, nil), &members)
		if len(members.Items) != 1 || members.Items[0].ID != en.root.ID || members.Next != "" {
			t.Fatalf("second page = %+v", members)
		}
		for range 2 {
			en.ok(http.StatusNoContent, en.do(http.MethodDelete, member+en.plain.ID, tokAdmin, nil), nil)
		}
		en.ok(http.StatusOK, en.do(http.MethodGet, "/api/v1/groups/"+g.ID+"/members", tokRead, nil), &members)
		if len(members.Items) != 1 || members.Items[0].ID != en.root.ID {
			t.Fatalf("members after removal = %+v", members)
		}
		problemOf(t, en.do(http.MethodPut, member+"no-such-user", tokAdmin, nil), 404)
		problemOf(t, en.do(http.MethodPut, "/api/v1/groups/no-such-group/members/"+en.plain.ID, tokAdmin, nil), 404)
		problemOf(t, en.do(http.MethodDelete, "/api/v1/groups/no-such-group/members/"+en.plain.ID, tokAdmin, nil), 404)
		problemOf(t, en.do(http.MethodGet, "/api/v1/groups/no-such-group/members", tokRead, nil), 404)

		en.ok(http.StatusNoContent, en.do(http.MethodDelete, "/api/v1/groups/"+g.ID, tokAdmin, nil), nil)
		problemOf(t, en.do(http.MethodGet, "/api/v1/groups/"+g.ID, tokRead, nil), 404)
		problemOf(t, en.do(http.MethodDelete, "/api/v1/groups/"+g.ID, tokAdmin, nil), 404)
		problemOf(t, en.do(http.MethodPatch, "/api/v1/groups/"+g.ID, tokAdmin, `{"description":"x"}`), 404)
	})
}

func TestGroups_Pagination(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		for _, n := range []string{"g1", "g2", "g3", "g4"} {
			en.ok(http.StatusCreated, en.do(http.MethodPost, "/api/v1/groups", tokAdmin, map[string]string{"name": n}), nil)
		}
		var seen []string
		for after := ""; ; {
			var page list[groupView]
			en.ok(http.StatusOK, en.do(http.MethodGet, "/api/v1/groups?limit=3&after="+url.QueryEscape(after), tokRead, nil), &page)
			for _, g := range page.Items {
				seen = append(seen, g.Name)
			}
			if after = page.Next; after == "" {
				break
			}
		}
		if want := []string{"g1", "g2", "g3", "g4", "weft-admins"}; !slices.Equal(seen, want) {
			t.Fatalf("pages = %v, want %v", seen, want)
		}
	})
}

func TestMachines_Lifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		var m machineView
		r := en.do(http.MethodPost, "/api/v1/machine-identities", tokAdmin,
			map[string]string{"name": "ci-runner", "description": "Builds", "owner_id": en.plain.ID})
		en.ok(http.StatusCreated, r, &m)
		if m.ID == "" || m.OwnerID != en.plain.ID || r.header.Get("Location") != "/api/v1/machine-identities/"+m.ID {
			t.Fatalf("created %+v", m)
		}
		var got machineView
		en.ok(http.StatusOK, en.do(http.MethodGet, "/api/v1/machine-identities/"+m.ID, tokRead, nil), &got)
		if got != m {
			t.Fatalf("GET = %+v", got)
		}
		en.ok(http.StatusOK, en.do(http.MethodPatch, "/api/v1/machine-identities/"+m.ID, tokAdmin,
			map[string]string{"owner_id": en.root.ID}), &got)
		if got.OwnerID != en.root.ID || got.Description != "Builds" {
			t.Fatalf("PATCH owner = %+v", got)
		}
		en.ok(http.StatusOK, en.do(http.MethodPatch, "/api/v1/machine-identities/"+m.ID, tokAdmin, `{"description":"Deploys"}`), &got)
		if got.OwnerID != en.root.ID || got.Description != "Deploys" {
			t.Fatalf("PATCH description = %+v", got)
		}
		var machines list[machineView]
		en.ok(http.StatusOK, en.do(http.MethodGet, "/api/v1/machine-identities", tokRead, nil), &machines)
		if len(machines.Items) != 1 || machines.Items[0].ID != m.ID {
			t.Fatalf("list = %+v", machines)
		}
		en.ok(http.StatusOK, en.do(http.MethodGet, "/api/v1/machine-identities?name=CI-Runner", tokRead, nil), &machines)
		if len(machines.Items) != 1 {
			t.Fatalf("by name = %+v", machines)
		}

		before := snapshot(t, en.db.SQL())
		problemOf(t, en.do(http.MethodPost, "/api/v1/machine-identities", tokAdmin,
			map[string]string{"name": "CI-RUNNER", "owner_id": en.plain.ID}), 409)
		for _, body := range []string{`{"name":"x","owner_id":"nobody"}`, `{"name":"x"}`} {
			if p := problemOf(t, en.do(http.MethodPost, "/api/v1/machine-identities", tokAdmin, body), 400); p.Field != "owner_id" {
				t.Fatalf("%s: %+v", body, p)
			}
		}
		if p := problemOf(t, en.do(http.MethodPatch, "/api/v1/machine-identities/"+m.ID, tokAdmin, `{"description":"y","owner_id":"nobody"}`), 400); p.Field != "owner_id" {
			t.Fatalf("patch to unknown owner: %+v", p)
		}
		problemOf(t, en.do(http.MethodGet, "/api/v1/machine-identities/nope", tokRead, nil), 404)
		problemOf(t, en.do(http.MethodPatch, "/api/v1/machine-identities/nope", tokAdmin, `{}`), 404)
		if after := snapshot(t, en.db.SQL()); !equalSnap(before, after) {
			t.Fatalf("refused requests wrote: %v", after)
		}
	})
}
