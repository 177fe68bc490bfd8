package admin

import (
	"net/http"
	"reflect"
	"testing"
)

func TestApplications_LifecycleAndRoutes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, en *env) {
		var app applicationView
		r := en.do(http.MethodPost, "/api/v1/applications", tokAdmin,
			`{"id":"crm","name":"Customer records","sensitive":true,"routes":[{"host":"CRM.example.com","path_prefix":"/"},{"host":"apps.example.com","path_prefix":"/crm/"}]}`)
		en.ok(http.StatusCreated, r, &app)
		wantRoutes := []routeView{{"apps.example.com", "/crm"}, {"crm.example.com", "/"}}
		if app.ID != "crm" || !app.Sensitive || !reflect.DeepEqual(app.Routes, wantRoutes) || r.header.Get("Location") != "/api/v1/applications/crm" {
			t.Fatalf("created %+v, Location %q", app, r.header.Get("Location"))
		}
		var got applicationView
		en.ok(http.StatusOK, en.do(http.MethodGet, "/api/v1/applications/crm", tokRead, nil), &got)
		if !reflect.DeepEqual(got, app) {
			t.Fatalf("GET = %+v, want %+v", got, app)
		}
		// PATCH without routes keeps them; with routes replaces them.
		en.ok(http.StatusOK, en.do(http.MethodPatch, "/api/v1/applications/crm", tokAdmin, `{"description":"Sales","sensitive":false}`), &got)
		if got.Description != "Sales" || got.Sensitive || got.Name != "Customer records" || !reflect.DeepEqual(got.Routes, wantRoutes) {
			t.Fatalf("PATCH = %+v", got)
		}
		en.ok(http.StatusOK, en.do(http.MethodPatch, "/api/v1/applications/crm", tokAdmin, `{"routes":[{"host":"crm.example.com","path_prefix":"/"}]}`), &got)
		if !reflect.DeepEqual(got.Routes, []routeView{{"crm.example.com", "/"}}) {
			t.Fatalf("PATCH routes = %+v", got.Routes)
		}
		var rs putRoutesResponse
		en.ok(http.StatusOK, en.do(http.MethodPut, "/api/v1/applications/crm/routes", tokAdmin,
			`{"routes":[{"host":"crm.example.com","path_prefix":"/"},{"host":"crm.example.com","path_prefix":"/api"}]}`), &rs)
		if len(rs.Routes) != 2 || rs.Routes[1].PathPrefix != "/api" {
			t.Fatalf("PUT routes = %+v", rs)
		}
		en.ok(http.StatusOK, en.do(http.MethodGet, "/api/v1/applications/crm/routes", tokRead, nil), &rs)
		if len(rs.Routes) != 2 {
			t.Fatalf("GET routes = %+v", rs)
		}

		en.ok(http.StatusCreated, en.do(http.MethodPost, "/api/v1/applications", tokAdmin, `{"id":"wiki","name":"Wiki"}`), nil)
		var apps list[applicationView]
		en.ok(http.StatusOK, en.do(http.MethodGet, "/api/v1/applications?limit=1", tokRead, nil), &apps)
		if len(apps.Items) != 1 || apps.Items[0].ID != "crm" || len(apps.Items[0].Routes) != 2 || apps.Next == "" {
			t.Fatalf("first page = %+v", apps)
		}
		en.ok(http.StatusOK, en.do(http.MethodGet, "/api/v1/applications?after="+apps.Next, tokRead, nil), &apps)
		if len(apps.Items) != 1 || apps.Items[0].ID != "wiki" || apps.Items[0].Routes == nil || len(apps.Items[0].Routes) != 0 || apps.Next != "" {
			t.Fatalf("second page = %+v", apps)
		}

		en.ok(http.StatusNoContent, en.do(http.MethodDelete, "/api/v1/applications/crm", tokAdmin, nil), nil)
		problemOf(t, en.do(http.MethodGet, "/api/v1/applications/crm", tokRead, nil), 404)
		problemOf(t, en.do(http.MethodGet, "/api/v1/applications/crm/routes", tokRead, nil), 404)
		problemOf(t, en.do(http.MethodDelete, "/api/v1/applications/crm", tokAdmin, nil), 404)
		problemOf(t, en.do(http.MethodPatch, "/api/v1/applications/crm", tokAdmin, `{"name":"x"}`), 404)
		problemOf(t, en.do(http.MethodPut, "/api/v1/applications/crm/routes", tokAdmin, `{"routes":[]}`), 404)
		// The deleted application's routes are free again.
		en.ok(http.StatusOK, en.do(http.MethodPut, "/api/v1/applications/wiki/routes", tokAdmin, `{"routes":[{"host":"crm.example.com","path_prefix":"/"}]}`), nil)
	})
}

// Bad input is refused with the field to blame, and nothing is written; reads need a
// read scope, writes the admin scope, and every write is in the audit log.
func TestApplications_Refusals(t *testing.T) {
	en := newEnv(t, "sqlite")
	en.ok(http.StatusCreated, en.do(http.MethodPost, "/api/v1/applications", tokAdmin,
		`{"id":"crm","name":"CRM","routes":[{"host":"crm.example.com","path_prefix":"/"}]}`), nil)
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		field                    string
	}{
		{"bad id", http.MethodPost, "/api/v1/applications", `{"id":"CRM 2","name":"x"}`, 400, "id"},
		{"no name", http.MethodPost, "/api/v1/applications", `{"id":"crm2"}`, 400, "name"},
		{"id taken", http.MethodPost, "/api/v1/applications", `{"id":"crm","name":"x"}`, 409, ""},
		{"host with port", http.MethodPost, "/api/v1/applications", `{"id":"crm2","name":"x","routes":[{"host":"a.example.com:443","path_prefix":"/"}]}`, 400, "routes[0].host"},
		{"prefix without slash", http.MethodPost, "/api/v1/applications", `{"id":"crm2","name":"x","routes":[{"host":"a.example.com","path_prefix":"x"}]}`, 400, "routes[0].path_prefix"},
		{"route of another application", http.MethodPost, "/api/v1/applications", `{"id":"crm2","name":"x","routes":[{"host":"crm.example.com","path_prefix":"/"}]}`, 409, ""},
		{"same route twice", http.MethodPut, "/api/v1/applications/crm/routes", `{"routes":[{"host":"a.example.com","path_prefix":"/x"},{"host":"A.example.com","path_prefix":"/x/"}]}`, 400, "routes[1]"},
		{"unknown route field", http.MethodPut, "/api/v1/applications/crm/routes", `{"routes":[{"host":"a.example.com","path":"/"}]}`, 400, ""},
		{"routes missing", http.MethodPut, "/api/v1/applications/crm/routes", `{}`, 400, "routes"},
		{"id cannot change", http.MethodPatch, "/api/v1/applications/crm", `{"id":"crm3"}`, 400, ""},
		{"unknown application", http.MethodPut, "/api/v1/applications/ghost/routes", `{"routes":[]}`, 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := snapshot(t, en.db.SQL())
			p := problemOf(t, en.do(tc.method, tc.path, tokAdmin, tc.body), tc.status)
			if tc.field != "" && p.Field != tc.field {
				t.Fatalf("field = %q, want %q (%+v)", p.Field, tc.field, p)
			}
			if after := snapshot(t, en.db.SQL()); !equalSnap(before, after) {
				t.Fatalf("refused request wrote rows")
			}
		})
	}
	problemOf(t, en.do(http.MethodGet, "/api/v1/applications", "", nil), 401)
	problemOf(t, en.do(http.MethodGet, "/api/v1/applications", tokNoScope, nil), 403)
	problemOf(t, en.do(http.MethodPost, "/api/v1/applications", tokRead, `{"id":"x","name":"x"}`), 403)
	problemOf(t, en.do(http.MethodGet, "/api/v1/applications", tokUserPlain, nil), 403)
	en.ok(http.StatusOK, en.do(http.MethodGet, "/api/v1/applications", tokRead, nil), nil)
	var n int
	// The one write that succeeded (the POST) is in the audit log; the refusals are not.
	if err := en.db.SQL().QueryRow("SELECT COUNT(*) FROM audit_log WHERE kind = 'admin.change' AND detail LIKE '%/api/v1/applications%'").Scan(&n); err != nil || n != 1 {
		t.Fatalf("audit entries for applications = %d, %v", n, err)
	}
}
