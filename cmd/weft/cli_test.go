package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
	"github.com/weft-fabric/weft/migrations"
)

// cliEnv is the environment of one weft invocation: its own data directory (SQLite) or
// its own PostgreSQL schema, and cheap argon2 parameters so tests stay quick.
type cliEnv struct {
	t       *testing.T
	environ []string
}

func newCLIEnv(t *testing.T, b sqltest.Backend) *cliEnv {
	t.Helper()
	env := []string{
		"WEFT_DATA_DIR=" + filepath.Join(t.TempDir(), "data"),
		"WEFT_ARGON2_MEMORY_KIB=8192", "WEFT_ARGON2_THREADS=1",
	}
	if b == sqltest.Postgres {
		// Nodes and admin commands on PostgreSQL share a configured KEK (it keys the
		// audit chain every command may write to).
		env = append(env, "WEFT_DATABASE_URL="+sqltest.PostgresURL(t), "WEFT_KEY_ENCRYPTION_KEY="+testKEK)
	}
	return &cliEnv{t: t, environ: env}
}

type result struct {
	code           int
	stdout, stderr string
}

func (e *cliEnv) run(stdin string, args ...string) result {
	e.t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb, e.environ)
	return result{code, out.String(), errb.String()}
}

func (e *cliEnv) ok(stdin string, args ...string) string {
	e.t.Helper()
	r := e.run(stdin, args...)
	if r.code != 0 {
		e.t.Fatalf("weft %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func forEachBackend(t *testing.T, fn func(t *testing.T, e *cliEnv)) {
	for _, b := range sqltest.Backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			fn(t, newCLIEnv(t, b))
		})
	}
}

const exampleFabric = "../../examples/fabric.yaml"

func TestCLI_ApplyThenUserList(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *cliEnv) {
		out := e.ok("", "apply", "-f", exampleFabric)
		if !strings.Contains(out, "16 created, 0 updated, 0 unchanged") || !strings.Contains(out, "created user alice") {
			t.Fatalf("apply output:\n%s", out)
		}
		out = e.ok("", "apply", "-f", exampleFabric)
		if !strings.Contains(out, "0 created, 0 updated, 16 unchanged") {
			t.Fatalf("second apply is not a no-op:\n%s", out)
		}
		var list struct {
			Users []userView `json:"users"`
			Next  string     `json:"next"`
		}
		if err := json.Unmarshal([]byte(e.ok("", "user", "list", "--output", "json")), &list); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, u := range list.Users {
			names = append(names, u.Username+":"+u.Status)
		}
		if strings.Join(names, ",") != "alice:active,bob:active,carol:suspended" || list.Next != "" {
			t.Fatalf("user list = %v (next %q)", names, list.Next)
		}
		text := e.ok("", "user", "list")
		if !strings.Contains(text, "alice") || !strings.Contains(text, "alice@example.com") || !strings.Contains(text, "USERNAME") {
			t.Fatalf("text list:\n%s", text)
		}
		clients := e.ok("", "client", "list")
		for _, id := range []string{"demo-web", "demo-spa", "demo-m2m", "demo-gateway"} {
			if !strings.Contains(clients, id) {
				t.Fatalf("client list lacks %s:\n%s", id, clients)
			}
		}
		if strings.Contains(clients, "secret") || strings.Contains(e.ok("", "client", "list", "-o", "json"), "argon2") {
			t.Fatal("client list shows secret material")
		}
	})
}

func TestCLI_UserLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *cliEnv) {
		var u userView
		if err := json.Unmarshal([]byte(e.ok("dave-password-123\n", "user", "create", "Dave", "--email", "dave@example.com",
			"--display-name", "Dave D", "--password-stdin", "-o", "json")), &u); err != nil {
			t.Fatal(err)
		}
		if u.Username != "Dave" || u.Status != "active" || u.ID == "" {
			t.Fatalf("created %+v", u)
		}
		// by normalised username and by id
		for _, ref := range []string{"dave", "ＤＡＶＥ", u.ID} {
			if out := e.ok("", "user", "show", ref, "-o", "json"); !strings.Contains(out, u.ID) {
				t.Fatalf("show %s: %s", ref, out)
			}
		}
		if out := e.ok("", "user", "suspend", "dave"); !strings.Contains(out, "now suspended") {
			t.Fatalf("suspend: %s", out)
		}
		if out := e.ok("", "user", "suspend", "dave"); !strings.Contains(out, "already suspended") {
			t.Fatalf("suspend twice: %s", out)
		}
		e.ok("", "user", "list", "--status", "suspended")
		if out := e.ok("", "user", "list", "--status", "suspended", "-o", "json"); !strings.Contains(out, `"username": "Dave"`) {
			t.Fatalf("suspended list: %s", out)
		}
		e.ok("", "user", "activate", "dave")
		e.ok("another-password-456\n", "user", "set-password", "dave", "--password-stdin")

		e.ok("", "group", "create", "Ops", "--description", "on call")
		e.ok("", "group", "add-member", "ops", "dave")
		var g groupView
		if err := json.Unmarshal([]byte(e.ok("", "group", "show", "OPS", "-o", "json")), &g); err != nil {
			t.Fatal(err)
		}
		if g.Name != "Ops" || len(g.Members) != 1 || g.Members[0] != "Dave" {
			t.Fatalf("group show = %+v", g)
		}
		if out := e.ok("", "user", "show", "dave"); !strings.Contains(out, "Ops") {
			t.Fatalf("user show lacks group:\n%s", out)
		}
		e.ok("", "group", "remove-member", "ops", "dave")
		e.ok("", "machine", "create", "backup-job", "--owner", "dave")
		if out := e.ok("", "machine", "list"); !strings.Contains(out, "backup-job") || !strings.Contains(out, "Dave") {
			t.Fatalf("machine list:\n%s", out)
		}
		e.ok("", "group", "delete", "ops")
		e.ok("", "user", "deprovision", "dave")
		if r := e.run("", "user", "activate", "dave"); r.code != exitUsage || !strings.Contains(r.stderr, "deprovisioned") {
			t.Fatalf("reactivating a deprovisioned user: %+v", r)
		}
	})
}

// Each failure has its exit code and a message that says what is wrong, and leaves
// nothing behind.
func TestCLI_Errors(t *testing.T) {
	e := newCLIEnv(t, sqltest.SQLite)
	e.ok("alice-password-1\n", "user", "create", "alice", "--email", "alice@example.com", "--password-stdin")
	cases := []struct {
		name  string
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"duplicate username", "", []string{"user", "create", "alice"}, exitConflict, "already exists"},
		{"duplicate after normalisation", "", []string{"user", "create", "ＡＬＩＣＥ"}, exitConflict, "already exists"},
		{"duplicate email", "", []string{"user", "create", "alice2", "--email", "ALICE@example.com"}, exitConflict, "already exists"},
		{"bad email", "", []string{"user", "create", "eve", "--email", "eve@"}, exitUsage, "invalid email"},
		{"bad username", "", []string{"user", "create", "eve smith"}, exitUsage, "invalid username"},
		{"short password", "short\n", []string{"user", "create", "eve", "--password-stdin"}, exitUsage, "at least 12 characters"},
		{"empty password", "\n", []string{"user", "create", "eve", "--password-stdin"}, exitUsage, "no password on standard input"},
		{"unknown user", "", []string{"user", "show", "ghost"}, exitNotFound, `no user "ghost"`},
		{"set-password without stdin flag", "", []string{"user", "set-password", "alice"}, exitUsage, "--password-stdin"},
		{"unknown group", "", []string{"group", "show", "ghosts"}, exitNotFound, `no group "ghosts"`},
		{"machine without owner", "", []string{"machine", "create", "bot"}, exitUsage, "--owner"},
		{"missing argument", "", []string{"user", "show"}, exitUsage, "needs USER"},
		{"unknown command", "", []string{"usr", "list"}, exitUsage, "usr"},
		{"unknown flag", "", []string{"user", "list", "--bogus"}, exitUsage, "bogus"},
		{"bad output", "", []string{"user", "list", "-o", "yaml"}, exitUsage, "--output must be text or json"},
		{"bad status filter", "", []string{"user", "list", "--status", "asleep"}, exitUsage, "status"},
		{"apply without file", "", []string{"apply"}, exitUsage, "apply needs -f"},
		{"apply missing file", "", []string{"apply", "-f", "/no/such/file.yaml"}, exitUsage, "open fabric file"},
		{"apply bad file", "users:\n  - username: bob\n    email: nope\n", []string{"apply", "-f", "-"}, exitUsage, "<stdin>:3:5: users[0].email"},
	}
	before := e.ok("", "user", "list", "-o", "json")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.run(tc.stdin, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d (want %d), stderr %q (want it to contain %q)", r.code, tc.code, r.stderr, tc.want)
			}
			if strings.Contains(r.stderr, "short\n") || strings.Contains(r.stdout+r.stderr, "alice-password-1") {
				t.Fatal("a password appears in the output")
			}
		})
	}
	if after := e.ok("", "user", "list", "-o", "json"); after != before {
		t.Fatalf("failed commands changed the directory:\nbefore %s\nafter  %s", before, after)
	}
}

func TestCLI_InvalidConfigFailsFast(t *testing.T) {
	cases := []struct {
		name string
		env  string
		want string
	}{
		{"listen", "WEFT_LISTEN=nonsense", "WEFT_LISTEN"},
		{"database url", "WEFT_DATABASE_URL=mysql://x", "WEFT_DATABASE_URL"},
		{"redis url", "WEFT_REDIS_URL=http://x", "WEFT_REDIS_URL"},
		{"issuer", "WEFT_ISSUER=http://id.example.com", "WEFT_ISSUER"},
		{"argon2", "WEFT_ARGON2_MEMORY_KIB=12", "WEFT_ARGON2_MEMORY_KIB"},
		{"log level", "WEFT_LOG_LEVEL=loud", "WEFT_LOG_LEVEL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newCLIEnv(t, sqltest.SQLite)
			e.environ = append(e.environ, tc.env)
			for _, args := range [][]string{{"serve"}, {"user", "list"}, {"migrate", "up"}} {
				r := e.run("", args...)
				if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
					t.Fatalf("weft %v with %s: exit %d, stderr %q", args, tc.env, r.code, r.stderr)
				}
			}
		})
	}
}

func TestCLI_MigrateStatusAndVersion(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *cliEnv) {
		out := e.ok("", "migrate", "status")
		if !strings.Contains(out, "00001_directory.sql") || !strings.Contains(out, "pending") {
			t.Fatalf("status on empty db:\n%s", out)
		}
		fsys, _ := migrations.FS(migrations.SQLite)
		files, _ := fs.Glob(fsys, "*.sql")
		latest := strings.SplitN(files[len(files)-1], "_", 2)[0] // "00005"
		if out := e.ok("", "migrate", "up"); !strings.Contains(out, "schema at version "+strings.TrimLeft(latest, "0")+"\n") {
			t.Fatalf("migrate up: %s", out)
		}
		if out := e.ok("", "migrate", "status"); !strings.Contains(out, "applied") || strings.Contains(out, "pending") {
			t.Fatalf("status after up:\n%s", out)
		}
	})
	e := newCLIEnv(t, sqltest.SQLite)
	if out := e.ok("", "version"); !strings.HasPrefix(out, "weft ") {
		t.Fatalf("version: %q", out)
	}
}
