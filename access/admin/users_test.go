package admin

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestUsers_Lifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		ctx := context.Background()
		var u userView
		r := en.do(http.MethodPost, "/api/v1/users", tokAdmin, map[string]any{"username": "Dave", "email": "dave@Example.COM",
			"display_name": "Dave D", "password": "dave-password-123"})
		en.ok(http.StatusCreated, r, &u)
		if u.ID == "" || u.Username != "Dave" || u.Email != "dave@example.com" || u.Status != "active" || u.CreatedAt.IsZero() {
			t.Fatalf("created %+v", u)
		}
		if loc := r.header.Get("Location"); loc != "/api/v1/users/"+u.ID {
			t.Fatalf("Location = %q", loc)
		}
		if _, err := en.dir.Authenticate(ctx, "dave", "dave-password-123"); err != nil {
			t.Fatalf("the password given at creation does not work: %v", err)
		}

		var got userView
		en.ok(http.StatusOK, en.do(http.MethodGet, "/api/v1/users/"+u.ID, tokRead, nil), &got)
		if got != u {
			t.Fatalf("GET = %+v, want %+v", got, u)
		}

		// PATCH: absent fields stay; profile and status change together.
		en.ok(http.StatusOK, en.do(http.MethodPatch, "/api/v1/users/"+u.ID, tokAdmin,
			`{"display_name":"David","status":"suspended"}`), &got)
		if got.DisplayName != "David" || got.Status != "suspended" || got.Email != "dave@example.com" || got.Username != "Dave" {
			t.Fatalf("PATCH = %+v", got)
		}
		en.ok(http.StatusOK, en.do(http.MethodPatch, "/api/v1/users/"+u.ID, tokAdmin, `{"username":"davey","status":"active"}`), &got)
		if got.Username != "davey" || got.Status != "active" {
			t.Fatalf("PATCH = %+v", got)
		}
		en.ok(http.StatusOK, en.do(http.MethodPatch, "/api/v1/users/"+u.ID, tokAdmin, `{}`), &got)
		if got.Username != "davey" {
			t.Fatalf("empty PATCH = %+v", got)
		}

		en.ok(http.StatusNoContent, en.do(http.MethodPut, "/api/v1/users/"+u.ID+"/password", tokAdmin, `{"password":"a-new-password-456"}`), nil)
		if _, err := en.dir.Authenticate(ctx, "davey", "a-new-password-456"); err != nil {
			t.Fatalf("new password: %v", err)
		}

		// Lists, filters and the user's groups.
		var page list[userView]
		en.ok(http.StatusOK, en.do(http.MethodGet, "/api/v1/users", tokRead, nil), &page)
		var names []string
		for _, x := range page.Items {
			names = append(names, x.Username)
		}
		if strings.Join(names, ",") != "davey,plain,root" || page.Next != "" {
			t.Fatalf("list = %v next %q", names, page.Next)
		}
		en.ok(http.StatusOK, en.do(http.MethodGet, "/api/v1/users?username="+url.QueryEscape("ＤＡＶＥＹ"), tokRead, nil), &page)
		if len(page.Items) != 1 || page.Items[0].ID != u.ID {
			t.Fatalf("by username = %+v", page)
		}
		for _, q := range []string{"username=nobody", "username=" + url.QueryEscape("has space"), "username=davey&status=suspended"} {
			en.ok(http.StatusOK, en.do(http.MethodGet, "/api/v1/users?"+q, tokRead, nil), &page)
			if len(page.Items) != 0 || page.Items == nil {
				t.Fatalf("%s = %+v (items must be [] not null)", q, page)
			}
		}
		en.ok(http.StatusOK, en.do(http.MethodPatch, "/api/v1/users/"+en.plain.ID, tokAdmin, `{"status":"suspended"}`), nil)
		en.ok(http.StatusOK, en.do(http.MethodGet, "/api/v1/users?status=suspended", tokRead, nil), &page)
		if len(page.Items) != 1 || page.Items[0].ID != en.plain.ID {
			t.Fatalf("status filter = %+v", page)
		}

		var groups list[groupView]
		en.ok(http.StatusOK, en.do(http.MethodGet, "/api/v1/users/"+en.root.ID+"/groups", tokRead, nil), &groups)
		if len(groups.Items) != 1 || groups.Items[0].Name != "weft-admins" {
			t.Fatalf("root's groups = %+v", groups)
		}
		en.ok(http.StatusOK, en.do(http.MethodGet, "/api/v1/users/"+u.ID+"/groups", tokRead, nil), &groups)
		if len(groups.Items) != 0 {
			t.Fatalf("dave's groups = %+v", groups)
		}
	})
}

// A refused status change leaves the profile change of the same PATCH unwritten.
func TestUsers_PatchIsAllOrNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		before := snapshot(t, en.db.SQL())
		p := problemOf(t, en.do(http.MethodPatch, "/api/v1/users/"+en.plain.ID, tokAdmin, `{"email":"new@example.com","status":"retired"}`), 400)
		if p.Field != "status" {
			t.Fatalf("problem = %+v", p)
		}
		if after := snapshot(t, en.db.SQL()); !equalSnap(before, after) {
			t.Fatalf("refused PATCH wrote: %v", after)
		}
		en.ok(http.StatusOK, en.do(http.MethodPatch, "/api/v1/users/"+en.plain.ID, tokAdmin, `{"status":"deprovisioned"}`), nil)
		before = snapshot(t, en.db.SQL())
		p = problemOf(t, en.do(http.MethodPatch, "/api/v1/users/"+en.plain.ID, tokAdmin, `{"display_name":"Back","status":"active"}`), 400)
		if p.Field != "status" || !strings.Contains(p.Detail, "deprovisioned") {
			t.Fatalf("problem = %+v", p)
		}
		if after := snapshot(t, en.db.SQL()); !equalSnap(before, after) {
			t.Fatalf("refused PATCH wrote: %v", after)
		}
	})
}

func TestUsers_Pagination(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		for _, n := range []string{"u1", "u2", "u3", "u4", "u5"} {
			en.ok(http.StatusCreated, en.do(http.MethodPost, "/api/v1/users", tokAdmin, map[string]string{"username": n}), nil)
		}
		// 7 users (plain and root too), two per page: 4 pages.
		var seen []string
		after, pages := "", 0
		for {
			var page list[userView]
			en.ok(http.StatusOK, en.do(http.MethodGet, "/api/v1/users?limit=2&after="+url.QueryEscape(after), tokRead, nil), &page)
			pages++
			if len(page.Items) > 2 {
				t.Fatalf("page of %d", len(page.Items))
			}
			for _, u := range page.Items {
				seen = append(seen, u.Username)
			}
			if page.Next == "" {
				break
			}
			after = page.Next
		}
		want := []string{"plain", "root", "u1", "u2", "u3", "u4", "u5"}
		if pages != 4 || !slices.Equal(seen, want) {
			t.Fatalf("%d pages: %v, want %v", pages, seen, want)
		}
	})
}

func TestUsers_NotFoundAndConflict(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		for _, r := range []response{
			en.do(http.MethodGet, "/api/v1/users/no-such-id", tokRead, nil),
			en.do(http.MethodPatch, "/api/v1/users/no-such-id", tokAdmin, `{"display_name":"x"}`),
			en.do(http.MethodPut, "/api/v1/users/no-such-id/password", tokAdmin, `{"password":"long-enough-password"}`),
			en.do(http.MethodGet, "/api/v1/users/no-such-id/groups", tokRead, nil),
		} {
			problemOf(t, r, 404)
		}
		en.ok(http.StatusCreated, en.do(http.MethodPost, "/api/v1/users", tokAdmin, `{"username":"Alice","email":"alice@example.com"}`), nil)
		before := snapshot(t, en.db.SQL())
		// Taken after normalisation: case and width do not make a new name.
		for _, body := range []string{`{"username":"ａｌｉｃｅ"}`, `{"username":"ALICE"}`, `{"username":"alice2","email":"ALICE@example.com"}`} {
			problemOf(t, en.do(http.MethodPost, "/api/v1/users", tokAdmin, body), 409)
		}
		problemOf(t, en.do(http.MethodPatch, "/api/v1/users/"+en.plain.ID, tokAdmin, `{"username":"Alice"}`), 409)
		if after := snapshot(t, en.db.SQL()); !equalSnap(before, after) {
			t.Fatalf("conflicts wrote: %v", after)
		}
	})
}
