package apply_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/apply"
	accsql "github.com/weft-fabric/weft/access/sqlstore"
	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/password"
	"github.com/weft-fabric/weft/identity/sqlstore"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// Cheap argon2id parameters: these tests are about apply, not hashing cost.
var testParams = password.Params{MemoryKiB: password.MinMemoryKiB, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

type env struct {
	db      *sqlstore.DB
	dir     *identity.Directory
	clients *access.Clients
	apps    *identity.Applications
	routes  *access.Routes
	applier *apply.Applier
}

func newEnv(t *testing.T, b sqltest.Backend) *env {
	db := sqltest.Open(t, b)
	h, err := password.NewHasher(testParams)
	if err != nil {
		t.Fatal(err)
	}
	store := sqlstore.NewDirectory(db)
	dir := identity.NewDirectory(store, db, h)
	clients := access.NewClients(accsql.NewClients(db), store, db, h)
	apps := identity.NewApplications(sqlstore.NewApplications(db), db)
	routes := access.NewRoutes(accsql.NewRoutes(db), apps)
	return &env{db: db, dir: dir, clients: clients, apps: apps, routes: routes,
		applier: &apply.Applier{Directory: dir, Clients: clients, Applications: apps, Routes: routes}}
}

func forEachBackend(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, b := range sqltest.Backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			fn(t, newEnv(t, b))
		})
	}
}

func (e *env) apply(t *testing.T, yaml string) (apply.Report, error) {
	t.Helper()
	doc, err := apply.Parse(strings.NewReader(yaml), "fabric.yaml")
	if err != nil {
		return apply.Report{}, err
	}
	return e.applier.Apply(context.Background(), doc, false)
}

// snapshot reads every directory and client row, to show that a refused request
// wrote nothing.
func snapshot(t *testing.T, db *sql.DB) map[string][]string {
	return sqltest.Snapshot(t, db, sqltest.DirectoryTables...)
}

func exampleFile(t *testing.T) string {
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "fabric.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestApply_ExampleCreatesEverythingThenIsIdempotent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		rep, err := e.apply(t, exampleFile(t))
		if err != nil {
			t.Fatalf("apply: %v", err)
		}
		if rep.Count(apply.Created) != len(rep.Changes) || len(rep.Changes) != 3+2+2+7+2 {
			t.Fatalf("first apply: %+v", rep.Changes)
		}
		before := snapshot(t, e.db.SQL())
		rep, err = e.apply(t, exampleFile(t))
		if err != nil {
			t.Fatalf("second apply: %v", err)
		}
		if n := rep.Count(apply.Unchanged); n != len(rep.Changes) {
			t.Fatalf("second apply changed something: %+v", rep.Changes)
		}
		if after := snapshot(t, e.db.SQL()); !reflect.DeepEqual(before, after) {
			t.Fatalf("second apply modified rows:\nbefore %v\nafter  %v", before, after)
		}

		alice, err := e.dir.Authenticate(ctx, "ALICE", "alice-demo-password-1")
		if err != nil || alice.Email != "alice@example.com" {
			t.Fatalf("alice cannot log in with the documented password: %+v %v", alice, err)
		}
		carol, _ := e.dir.UserByUsername(ctx, "carol")
		if carol.Status != identity.StatusSuspended {
			t.Fatalf("carol status = %q", carol.Status)
		}
		eng, _ := e.dir.GroupByName(ctx, "engineering")
		members, _ := e.dir.Members(ctx, eng.ID)
		if len(members) != 2 || members[0].Username != "alice" || members[1].Username != "bob" {
			t.Fatalf("engineering members = %+v", members)
		}
		ci, err := e.dir.MachineByName(ctx, "ci-runner")
		bob, _ := e.dir.UserByUsername(ctx, "bob")
		if err != nil || ci.OwnerID != bob.ID {
			t.Fatalf("ci-runner = %+v, %v", ci, err)
		}
		web, err := e.clients.Client(ctx, "demo-web")
		if err != nil || web.Type != access.Confidential || web.OwnerID != alice.ID ||
			!reflect.DeepEqual(web.RedirectURIs, []string{"http://127.0.0.1:9555/callback"}) ||
			!reflect.DeepEqual(web.Scopes, []string{"openid", "profile", "email", "offline_access"}) {
			t.Fatalf("demo-web = %+v, %v", web, err)
		}
		if password.Verify("demo-web-secret", web.SecretHash) != nil || strings.Contains(web.SecretHash, "demo-web-secret") {
			t.Fatal("demo-web secret is not stored as an argon2id hash of the documented secret")
		}
		if gw, _ := e.clients.Client(ctx, "demo-gateway"); !gw.Introspection || web.Introspection || web.FirstParty ||
			!reflect.DeepEqual(web.PostLogoutRedirectURIs, []string{"http://127.0.0.1:9555/"}) {
			t.Fatalf("capabilities: gateway %+v, web %+v", gw, web)
		}
		if m2m, _ := e.clients.Client(ctx, "demo-m2m"); m2m.MachineIdentityID != ci.ID {
			t.Fatalf("demo-m2m acts for %q, want ci-runner %q", m2m.MachineIdentityID, ci.ID)
		}
		spa, _ := e.clients.Client(ctx, "demo-spa")
		if spa.Type != access.Public || spa.SecretHash != "" {
			t.Fatalf("demo-spa = %+v", spa)
		}
		payroll, err := e.apps.ByID(ctx, "demo-payroll")
		if err != nil || !payroll.Sensitive || payroll.Name != "Demo payroll" {
			t.Fatalf("demo-payroll = %+v, %v", payroll, err)
		}
		if wiki, _ := e.apps.ByID(ctx, "demo-wiki"); wiki.Sensitive || wiki.Description != "The team's knowledge base" {
			t.Fatalf("demo-wiki = %+v", wiki)
		}
		rs, err := e.routes.All(ctx)
		if err != nil || len(rs) != 2 || rs[0].Host != "127.0.0.1" || rs[0].PathPrefix != "/payroll" || rs[0].ApplicationID != "demo-payroll" ||
			rs[1].PathPrefix != "/wiki" || rs[1].ApplicationID != "demo-wiki" {
			t.Fatalf("routes = %+v, %v", rs, err)
		}
	})
}

// An application's routes are exact: a file that lists other routes replaces them, and
// its other fields follow the file.
func TestApply_ApplicationRoutesAreExact(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		if _, err := e.apply(t, exampleFile(t)); err != nil {
			t.Fatal(err)
		}
		rep, err := e.apply(t, `
applications:
  - id: demo-wiki
    name: Demo wiki
    description: The team's knowledge base
    sensitive: true
    routes:
      - host: Wiki.Example.com
        path_prefix: /
      - host: 127.0.0.1
        path_prefix: /wiki/
  - id: demo-payroll
    name: Demo payroll
    description: Salaries and bank details
    sensitive: true
    routes:
      - host: 127.0.0.1
        path_prefix: /payroll
`)
		if err != nil {
			t.Fatal(err)
		}
		want := []apply.Change{{apply.KindApp, "demo-wiki", apply.Updated}, {apply.KindApp, "demo-payroll", apply.Unchanged}}
		if !reflect.DeepEqual(rep.Changes, want) {
			t.Fatalf("changes = %+v, want %+v", rep.Changes, want)
		}
		rs, _ := e.routes.Of(ctx, "demo-wiki")
		if len(rs) != 2 || rs[0].Host != "127.0.0.1" || rs[0].PathPrefix != "/wiki" || rs[1].Host != "wiki.example.com" || rs[1].PathPrefix != "/" {
			t.Fatalf("demo-wiki routes = %+v", rs)
		}
		if wiki, _ := e.apps.ByID(ctx, "demo-wiki"); !wiki.Sensitive {
			t.Fatal("sensitive was not applied")
		}
		// No routes listed: none left.
		if _, err := e.apply(t, "applications:\n  - id: demo-wiki\n    name: Demo wiki\n"); err != nil {
			t.Fatal(err)
		}
		if rs, _ := e.routes.Of(ctx, "demo-wiki"); len(rs) != 0 {
			t.Fatalf("routes left: %+v", rs)
		}
	})
}

func TestApply_UpdatesAndMembershipIsExact(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		if _, err := e.apply(t, exampleFile(t)); err != nil {
			t.Fatal(err)
		}
		rep, err := e.apply(t, `
users:
  - username: Alice            # same user: usernames match after normalisation
    email: alice@corp.example.com
    display_name: Alice Example
    password: a-brand-new-password
groups:
  - name: engineering
    description: Builds and runs the product
    members: [bob]
clients:
  - id: demo-m2m
    name: Demo machine client
    type: confidential
    secret: demo-m2m-secret
    grant_types: [client_credentials]
    scopes: [api.read, api.write]
    owner: bob
`)
		if err != nil {
			t.Fatal(err)
		}
		want := []apply.Change{{apply.KindUser, "Alice", apply.Updated}, {apply.KindGroup, "engineering", apply.Updated}, {apply.KindClient, "demo-m2m", apply.Updated}}
		if !reflect.DeepEqual(rep.Changes, want) {
			t.Fatalf("changes = %+v, want %+v", rep.Changes, want)
		}
		if _, err := e.dir.Authenticate(ctx, "alice", "alice-demo-password-1"); !errors.Is(err, identity.ErrInvalidCredentials) {
			t.Fatalf("old password still works: %v", err)
		}
		if u, err := e.dir.Authenticate(ctx, "alice", "a-brand-new-password"); err != nil || u.Email != "alice@corp.example.com" || u.Username != "Alice" {
			t.Fatalf("after update: %+v %v", u, err)
		}
		eng, _ := e.dir.GroupByName(ctx, "engineering")
		if ms, _ := e.dir.Members(ctx, eng.ID); len(ms) != 1 || ms[0].Username != "bob" {
			t.Fatalf("members = %+v, want exactly bob", ms)
		}
		m2m, _ := e.clients.Client(ctx, "demo-m2m")
		if !reflect.DeepEqual(m2m.Scopes, []string{"api.read", "api.write"}) {
			t.Fatalf("scopes = %v", m2m.Scopes)
		}
	})
}

func TestApply_DryRunWritesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		before := snapshot(t, e.db.SQL())
		doc, err := apply.Parse(strings.NewReader(exampleFile(t)), "fabric.yaml")
		if err != nil {
			t.Fatal(err)
		}
		rep, err := e.applier.Apply(context.Background(), doc, true)
		if err != nil || !rep.DryRun || rep.Count(apply.Created) != 16 {
			t.Fatalf("dry run = %+v, %v", rep, err)
		}
		if after := snapshot(t, e.db.SQL()); !reflect.DeepEqual(before, after) {
			t.Fatalf("dry run wrote rows: %v", after)
		}
	})
}

// Every bad input is reported at its line and leaves every table exactly as it was,
// including failures found only after earlier objects were written.
func TestApply_ErrorsChangeNothing(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want []string // substrings of the error, each with its file:line
	}{
		{"unknown top-level key", "version: 1\nuserz: []\n", []string{`fabric.yaml:2:1: unknown key "userz"`}},
		{"unknown user key", "users:\n  - username: dave\n    emial: d@example.com\n", []string{`fabric.yaml:3:5: users[0]: unknown key "emial"`}},
		{"bad email", "users:\n  - username: dave\n    email: not-an-email\n", []string{"fabric.yaml:3:5: users[0].email: must be a plain address"}},
		{"duplicate after normalisation", "users:\n  - username: dave\n  - username: DAVE\n  - username: ＤＡＶＥ\n",
			[]string{"fabric.yaml:3:5: users[1].username: \"DAVE\" is the same username as users[0] at line 2", "fabric.yaml:4:5: users[2].username"}},
		{"unknown owner", "machine_identities:\n  - name: bot\n    owner: nobody\n", []string{`fabric.yaml:3:5: machine_identities[0].owner: unknown user "nobody"`}},
		{"missing owner", "machine_identities:\n  - name: bot\n", []string{"fabric.yaml:2:5: machine_identities[0].owner: is required"}},
		{"unknown member", "groups:\n  - name: g\n    members: [alice, ghost]\n", []string{`fabric.yaml:3:22: groups[0].members[1]: unknown user "ghost"`}},
		{"short password", "users:\n  - username: dave\n    password: short\n", []string{"fabric.yaml:3:5: users[0].password: must be at least 12 characters"}},
		{"bad hash", "users:\n  - username: dave\n    password_hash: $2a$10$abc\n", []string{"fabric.yaml:3:5: users[0].password_hash: must be an argon2id PHC string"}},
		{"wrong type", "users:\n  - username: [a, b]\n", []string{"fabric.yaml:2:15: users[0].username: must be a string"}},
		{"not yaml", "users: [\n", []string{"fabric.yaml:"}},
		{"bad status", "users:\n  - username: dave\n    status: asleep\n", []string{"fabric.yaml:3:5: users[0].status: must be one of"}},
		{"implicit grant", "clients:\n  - id: c\n    name: C\n    type: public\n    grant_types: [implicit]\n", []string{`fabric.yaml:5:5: clients[0].grant_types: "implicit" is not supported`}},
		{"public with secret", "clients:\n  - id: c\n    name: C\n    type: public\n    secret: abcdefghijklmnop\n    grant_types: [authorization_code]\n    redirect_uris: [https://app.example.com/cb]\n", []string{"fabric.yaml:5:5: clients[0].secret: a public client cannot have a secret"}},
		{"http redirect", "clients:\n  - id: c\n    name: C\n    type: public\n    grant_types: [authorization_code]\n    redirect_uris: [http://app.example.com/cb]\n", []string{"fabric.yaml:6:5: clients[0].redirect_uris:", "http is allowed only for loopback"}},
		{"fragment redirect", "clients:\n  - id: c\n    name: C\n    type: public\n    grant_types: [authorization_code]\n    redirect_uris: ['https://app.example.com/cb#x']\n", []string{"must not contain a fragment"}},
		{"unknown client owner", "clients:\n  - id: c\n    name: C\n    type: confidential\n    secret: abcdefghijklmnop\n    grant_types: [client_credentials]\n    owner: ghost\n", []string{`fabric.yaml:7:5: clients[0].owner: unknown user "ghost"`}},
		{"bool expected", "clients:\n  - id: c\n    name: C\n    type: confidential\n    secret: abcdefghijklmnop\n    grant_types: [client_credentials]\n    introspection: sometimes\n", []string{"fabric.yaml:7:20: clients[0].introspection: must be true or false"}},
		{"public introspector", "clients:\n  - id: c\n    name: C\n    type: public\n    grant_types: [authorization_code]\n    redirect_uris: [https://a.example.com/cb]\n    introspection: true\n", []string{"clients[0].introspection: a public client cannot authenticate"}},
		{"bad token format", "clients:\n  - id: c\n    name: C\n    type: confidential\n    secret: abcdefghijklmnop\n    grant_types: [client_credentials]\n    access_token_format: paseto\n", []string{"fabric.yaml:7:5: clients[0].access_token_format: must be opaque or jwt"}},
		{"public client without PKCE", "clients:\n  - id: c\n    name: C\n    type: public\n    grant_types: [authorization_code]\n    redirect_uris: [https://a.example.com/cb]\n    pkce_required: false\n", []string{"fabric.yaml:7:5: clients[0].pkce_required: public clients always need PKCE"}},
		{"bad id token alg", "clients:\n  - id: c\n    name: C\n    type: confidential\n    secret: abcdefghijklmnop\n    grant_types: [client_credentials]\n    id_token_signed_response_alg: HS256\n", []string{"fabric.yaml:7:5: clients[0].id_token_signed_response_alg: must be ES256 or RS256"}},
		{"unknown machine identity", "clients:\n  - id: c\n    name: C\n    type: confidential\n    secret: abcdefghijklmnop\n    grant_types: [client_credentials]\n    machine_identity: ghost-bot\n", []string{`fabric.yaml:7:5: clients[0].machine_identity: unknown machine identity "ghost-bot"`}},
		{"machine identity without client_credentials", "clients:\n  - id: c\n    name: C\n    type: confidential\n    secret: abcdefghijklmnop\n    grant_types: [authorization_code]\n    redirect_uris: [https://a.example.com/cb]\n    machine_identity: ci-runner\n", []string{"fabric.yaml:8:5: clients[0].machine_identity: only a client_credentials client"}},
		{"bad back-channel URI", "clients:\n  - id: c\n    name: C\n    type: confidential\n    secret: abcdefghijklmnop\n    grant_types: [client_credentials]\n    backchannel_logout_uri: http://rp.example.com/bc\n", []string{"fabric.yaml:7:5: clients[0].backchannel_logout_uri: must be an https URL"}},
		{"bad machine status", "machine_identities:\n  - name: bot\n    owner: alice\n    status: suspended\n", []string{"fabric.yaml:4:5: machine_identities[0].status: must be active or disabled"}},
		{"bad client status", "clients:\n  - id: c\n    name: C\n    type: confidential\n    secret: abcdefghijklmnop\n    grant_types: [client_credentials]\n    status: paused\n", []string{"fabric.yaml:7:5: clients[0].status: must be active or disabled"}},
		{"two documents", "users: []\n---\ngroups: []\n", []string{"fabric.yaml:2:1: a fabric file holds one YAML document"}},
		{"bad application id", "applications:\n  - id: My App\n    name: A\n", []string{"fabric.yaml:2:5: applications[0].id: may contain only lower-case letters"}},
		{"application without name", "applications:\n  - id: app\n", []string{"fabric.yaml:2:5: applications[0].name: is required"}},
		{"application twice", "applications:\n  - id: app\n    name: A\n  - id: app\n    name: B\n", []string{`fabric.yaml:4:5: applications[1].id: application "app" is declared twice (first at line 2)`}},
		{"unknown route key", "applications:\n  - id: app\n    name: A\n    routes:\n      - host: a.example.com\n        path: /\n", []string{`fabric.yaml:6:9: applications[0].routes[0]: unknown key "path" (allowed: host, path_prefix)`}},
		{"route with a port", "applications:\n  - id: app\n    name: A\n    routes:\n      - host: a.example.com:8443\n        path_prefix: /\n", []string{"fabric.yaml:5:9: applications[0].routes[0].host: must not include a port"}},
		{"route without a slash", "applications:\n  - id: app\n    name: A\n    routes:\n      - host: a.example.com\n        path_prefix: app\n", []string{"fabric.yaml:6:9: applications[0].routes[0].path_prefix: must start with '/'"}},
		{"routes not a list", "applications:\n  - id: app\n    name: A\n    routes: a.example.com\n", []string{"fabric.yaml:4:13: applications[0].routes: must be a list"}},
		{"route declared twice", "applications:\n  - id: a\n    name: A\n    routes: [{host: x.example.com, path_prefix: /p}]\n  - id: b\n    name: B\n    routes: [{host: X.example.com, path_prefix: /p/}]\n", []string{"fabric.yaml:7:14: applications[1].routes[0]: route x.example.com/p is declared twice (first at line 4"}},
		// Found at write time: the route belongs to an application the file does not
		// mention.
		{"route of another application", "applications:\n  - id: newcomer\n    name: N\n    routes: [{host: 127.0.0.1, path_prefix: /wiki}]\n", []string{`fabric.yaml:2:5: applications[0]: route 127.0.0.1/wiki (routes[0]) already leads to application "demo-wiki"`}},
		// Found only at write time, after users[0] was inserted: the email belongs to
		// alice, who exists already.
		{"late conflict", "users:\n  - username: newbie\n  - username: erin\n    email: alice@example.com\n", []string{"fabric.yaml:3:5: users[1]: a user with this username or email already exists"}},
		{"deprovisioned cannot return", "users:\n  - username: zed\n    status: active\n", []string{"fabric.yaml:3:5: users[0].status: a deprovisioned account cannot change status"}},
	}
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		if _, err := e.apply(t, exampleFile(t)); err != nil {
			t.Fatal(err)
		}
		if _, err := e.dir.CreateUser(ctx, identity.NewUser{Username: "zed", Status: identity.StatusDeprovisioned}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				before := snapshot(t, e.db.SQL())
				_, err := e.apply(t, tc.yaml)
				if err == nil {
					t.Fatal("apply succeeded")
				}
				var fe *apply.Errors
				if !errors.As(err, &fe) {
					t.Fatalf("error is %T (%v), want *apply.Errors", err, err)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error\n%s\ndoes not contain %q", err, w)
					}
				}
				if after := snapshot(t, e.db.SQL()); !reflect.DeepEqual(before, after) {
					t.Fatalf("failed apply changed rows:\nbefore %v\nafter  %v", before, after)
				}
			})
		}
	})
}

func TestApply_ReportsEveryProblemAtOnce(t *testing.T) {
	_, err := apply.Parse(strings.NewReader("users:\n  - username: a\n    bogus: 1\n  - username: b\n    other: 2\n"), "f.yaml")
	var fe *apply.Errors
	if !errors.As(err, &fe) || len(fe.Problems) != 2 {
		t.Fatalf("err = %v, want two problems", err)
	}
}

func TestApply_SecretsNeverInErrors(t *testing.T) {
	e := newEnv(t, sqltest.SQLite)
	_, err := e.apply(t, "users:\n  - username: dave\n    password: dave\n    email: bad\nclients:\n  - id: c\n    name: C\n    type: confidential\n    secret: short-sec\n    grant_types: [client_credentials]\n")
	if err == nil {
		t.Fatal("want errors")
	}
	for _, secret := range []string{"short-sec", "password: dave"} {
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("error leaks %q:\n%s", secret, err)
		}
	}
}

// status: disabled in a fabric file disables a client and a machine identity (an
// existing one through the same observed path as the API); a file that does not say
// status leaves it alone; status: active enables again.
func TestApply_StatusDisablesClientsAndMachines(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		if _, err := e.apply(t, exampleFile(t)); err != nil {
			t.Fatal(err)
		}
		const doc = "machine_identities:\n  - name: ci-runner\n    owner: bob\n    description: Builds and deploys from the main branch\n    status: %s\n" +
			"clients:\n  - id: demo-m2m\n    name: Demo machine client\n    type: confidential\n    secret: demo-m2m-secret\n" +
			"    grant_types: [client_credentials]\n    scopes: [api.read]\n    machine_identity: ci-runner\n    owner: bob\n    status: %s\n"
		m, err := e.dir.MachineByName(ctx, "ci-runner")
		if err != nil {
			t.Fatal(err)
		}
		check := func(wantClient access.ClientStatus, wantMachine identity.Status) {
			t.Helper()
			c, err := e.clients.Client(ctx, "demo-m2m")
			if err != nil || c.Status != wantClient {
				t.Fatalf("demo-m2m status = %q, %v; want %q", c.Status, err, wantClient)
			}
			if m, err := e.dir.MachineByID(ctx, m.ID); err != nil || m.Status != wantMachine {
				t.Fatalf("ci-runner status = %q, %v; want %q", m.Status, err, wantMachine)
			}
		}
		check(access.ClientActive, identity.StatusActive)
		if _, err := e.apply(t, fmt.Sprintf(doc, "disabled", "disabled")); err != nil {
			t.Fatal(err)
		}
		check(access.ClientDisabled, identity.StatusDisabled)
		if _, err := e.apply(t, exampleFile(t)); err != nil { // says nothing about status
			t.Fatal(err)
		}
		check(access.ClientDisabled, identity.StatusDisabled)
		if _, err := e.apply(t, fmt.Sprintf(doc, "active", "active")); err != nil {
			t.Fatal(err)
		}
		check(access.ClientActive, identity.StatusActive)
	})
}
