package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/pflag"

	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// testKEK is a fixed key-encryption key for tests on PostgreSQL, where one is required.
const testKEK = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// syncBuffer collects the server's log from its goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// redisURL returns the test Redis, skipping (or failing under
// WEFT_TEST_REQUIRE_SERVICES=1) when it is unreachable.
func redisURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("WEFT_TEST_REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("WEFT_TEST_REDIS_URL: %v", err)
	}
	c := redis.NewClient(opts)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		sqltest.Unavailable(t, "Redis ("+opts.Addr+")", err)
	}
	return u
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

type server struct {
	base string
	log  *syncBuffer
	stop func() error
}

// startServer runs serve in-process on a free port with the given environment.
func startServer(t *testing.T, environ []string) *server {
	t.Helper()
	return startServerAt(t, environ, "127.0.0.1:0")
}

// startServerAt runs serve in-process on addr.
func startServerAt(t *testing.T, environ []string, addr string) *server {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	registerConfigFlags(fs)
	cfg, err := loadConfig("", append(environ, "WEFT_LISTEN="+addr), fs)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, newLogger(cfg, logs), func(a net.Addr) { addrc <- a }) }()
	select {
	case a := <-addrc:
		s := &server{base: "http://" + a.String(), log: logs}
		var once sync.Once
		var stopErr error
		s.stop = func() error {
			once.Do(func() { cancel(); stopErr = <-done })
			return stopErr
		}
		t.Cleanup(func() { _ = s.stop() })
		return s
	case err := <-done:
		cancel()
		t.Fatalf("serve exited before listening: %v\n%s", err, logs)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("serve did not start\n%s", logs)
	}
	return nil
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServe_EmbeddedDefault(t *testing.T) {
	e := newCLIEnv(t, sqltest.SQLite)
	s := startServer(t, e.environ)
	if code, body := get(t, s.base+"/healthz"); code != 200 || !strings.Contains(body, `"ok"`) {
		t.Fatalf("/healthz = %d %s", code, body)
	}
	code, body := get(t, s.base+"/readyz")
	if code != 200 || !strings.Contains(body, `"database":"ok"`) || strings.Contains(body, "redis") {
		t.Fatalf("/readyz = %d %s", code, body)
	}
	get(t, s.base+"/no-such-page")
	code, body = get(t, s.base+"/metrics")
	for _, want := range []string{`weft_http_requests_total{method="GET",route="/readyz",status="200"} 1`,
		"weft_http_request_duration_seconds_bucket", `route="unmatched"`, "go_sql_open_connections",
		"weft_password_hashing_rejected_total 0", "weft_password_hashing_slots "} {
		if code != 200 || !strings.Contains(body, want) {
			t.Fatalf("/metrics lacks %q:\n%.2000s", want, body)
		}
	}
	if err := s.stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	logs := s.log.String()
	// JSON lines with a request id on the access log.
	var sawAccess bool
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec["route"] == "/readyz" && rec["request_id"] != "" && rec["request_id"] != nil {
			sawAccess = true
		}
	}
	if !sawAccess {
		t.Fatalf("no access log line with a request id:\n%s", logs)
	}
	// First start: the administrator was created with a generated password, logged once.
	if strings.Count(logs, "generated password") != 1 {
		t.Fatalf("expected one bootstrap line:\n%s", logs)
	}
	var pw string
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "generated password") {
			var rec map[string]any
			_ = json.Unmarshal([]byte(line), &rec)
			pw, _ = rec["password"].(string)
		}
	}
	if len(pw) < 20 {
		t.Fatalf("bootstrap password %q too short or missing", pw)
	}
	out := e.ok("", "user", "show", "admin")
	if !strings.Contains(out, "weft-admins") {
		t.Fatalf("admin is not in weft-admins:\n%s", out)
	}
	// A second start with users present creates nobody and logs no password.
	s2 := startServer(t, e.environ)
	_ = s2.stop()
	if strings.Contains(s2.log.String(), "password") {
		t.Fatalf("second start mentions a password:\n%s", s2.log.String())
	}
}

// metrics_listen moves /metrics to an address of its own (issue 9, item 14: the public
// listener need not show its request counts and pool statistics to the internet).
func TestServe_MetricsListen(t *testing.T) {
	e := newCLIEnv(t, sqltest.SQLite)
	metrics := closedPort(t)
	s := startServer(t, append(e.environ, "WEFT_METRICS_LISTEN="+metrics))
	if code, _ := get(t, s.base+"/metrics"); code != http.StatusNotFound {
		t.Fatalf("public /metrics = %d, want 404 with metrics_listen set", code)
	}
	var code int
	var body string
	for range 50 { // the metrics listener starts beside the public one
		if resp, err := http.Get("http://" + metrics + "/metrics"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			code, body = resp.StatusCode, string(b)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code != 200 || !strings.Contains(body, `route="unmatched"`) || !strings.Contains(body, "go_sql_open_connections") {
		t.Fatalf("metrics listener /metrics = %d:\n%.1000s", code, body)
	}
	if code, _ := get(t, "http://"+metrics+"/oauth2/token"); code != http.StatusNotFound {
		t.Fatalf("metrics listener serves other routes: %d", code)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
}

// trusted_proxies reaches the server: behind a trusted proxy (here the test itself, on
// loopback) the access log names the forwarded client, and a spoofed header from a
// peer that is not trusted changes nothing.
func TestServe_TrustedProxies(t *testing.T) {
	e := newCLIEnv(t, sqltest.SQLite)
	for _, tc := range []struct{ trusted, want string }{
		{"127.0.0.1,::1", "203.0.113.7"},
		{"192.0.2.10", "127.0.0.1"},
	} {
		s := startServer(t, append(e.environ, "WEFT_TRUSTED_PROXIES="+tc.trusted))
		req, _ := http.NewRequest(http.MethodGet, s.base+"/healthz", nil)
		req.Header.Set("X-Forwarded-For", "203.0.113.7")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		_ = s.stop()
		var got []any
		for _, line := range strings.Split(strings.TrimSpace(s.log.String()), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["route"] == "/healthz" {
				got = append(got, rec["remote_ip"])
			}
		}
		if len(got) != 1 || got[0] != tc.want {
			t.Fatalf("trusted %s: remote_ip %v, want %s", tc.trusted, got, tc.want)
		}
	}
}

func TestServe_Readiness(t *testing.T) {
	t.Run("postgres and redis", func(t *testing.T) {
		e := newCLIEnv(t, sqltest.Postgres)
		e.environ = append(e.environ, "WEFT_REDIS_URL="+redisURL(t), "WEFT_BOOTSTRAP_ADMIN=root-admin",
			"WEFT_KEY_ENCRYPTION_KEY="+testKEK,
			"WEFT_BOOTSTRAP_ADMIN_PASSWORD=root-admin-password-1")
		s := startServer(t, e.environ)
		// Ready once subscribed to the revocation bus and caught up; until then 503.
		var code int
		var body string
		eventually(t, "ready", func() bool {
			code, body = get(t, s.base+"/readyz")
			if code == 503 && !strings.Contains(body, `"startup":"pending"`) {
				t.Fatalf("/readyz = %d %s", code, body)
			}
			return code == 200
		})
		if !strings.Contains(body, `"database":"ok"`) || !strings.Contains(body, `"redis":"ok"`) {
			t.Fatalf("/readyz = %d %s", code, body)
		}
		if strings.Contains(s.log.String(), "root-admin-password-1") {
			t.Fatal("a configured bootstrap password was logged")
		}
	})
	t.Run("redis down", func(t *testing.T) {
		e := newCLIEnv(t, sqltest.SQLite)
		e.environ = append(e.environ, "WEFT_REDIS_URL=redis://:hunter2-secret@"+closedPort(t)+"/0")
		s := startServer(t, e.environ)
		code, body := get(t, s.base+"/readyz")
		if code != 503 || !strings.Contains(body, `"redis"`) || !strings.Contains(body, `"database":"ok"`) {
			t.Fatalf("/readyz = %d %s", code, body)
		}
		if strings.Contains(body, "hunter2") || strings.Contains(s.log.String(), "hunter2") {
			t.Fatal("the Redis password leaked")
		}
	})
	t.Run("migrate_on_start off with an outdated schema", func(t *testing.T) {
		e := newCLIEnv(t, sqltest.SQLite)
		e.environ = append(e.environ, "WEFT_MIGRATE_ON_START=false")
		r := e.run("", "serve", "--listen", "127.0.0.1:0")
		if r.code == 0 || !strings.Contains(r.stderr, "weft migrate up") {
			t.Fatalf("serve on an unmigrated database: %+v", r)
		}
	})
}

// TestServe_Binary runs the real binary the way the README does, with nothing
// configured but a fresh data directory, and stops it with SIGTERM.
func TestServe_Binary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "weft")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0") // the embedded default must not need cgo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	addr := closedPort(t)
	cmd := exec.Command(bin, "serve")
	cmd.Dir = dir
	cmd.Env = []string{"WEFT_LISTEN=" + addr, "PATH=" + os.Getenv("PATH")}
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no /readyz 200 within 30s\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(dir, "weft-data", "weft.db")); err != nil {
		t.Fatalf("default data directory not used: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "weft-data")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data directory mode = %v, %v; want 0700", fi.Mode().Perm(), err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	select {
	case err := <-waitErr:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("did not stop within 20s of SIGTERM\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Fatalf("no graceful stop in the log:\n%s", logs.String())
	}
}
