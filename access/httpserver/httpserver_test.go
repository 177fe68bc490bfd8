package httpserver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// syncBuffer lets the Serve test read logs while server goroutines write them.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines parses the JSON log lines written so far.
func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	sc.Buffer(nil, 1<<20) // panic lines carry a stack
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// find returns the log lines with the given msg.
func (b *syncBuffer) find(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range b.lines(t) {
		if l["msg"] == msg {
			out = append(out, l)
		}
	}
	return out
}

// accessLine returns the single access line for path.
func (b *syncBuffer) accessLine(t *testing.T, path string) map[string]any {
	t.Helper()
	var found []map[string]any
	for _, l := range b.find(t, "http request") {
		if l["path"] == path {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want 1 access line for %s, got %d in:\n%s", path, len(found), b.String())
	}
	return found[0]
}

func newTestEcho(t *testing.T, o Options) (*echo.Echo, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	o.Logger = slog.New(LogHandler(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	return New(o), logs
}

func do(e *echo.Echo, method, target string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for k, vs := range header {
		req.Header[k] = vs
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, rec.Body.String())
	}
	return v
}

func TestHealthz(t *testing.T) {
	e, _ := newTestEcho(t, Options{Version: "1.2.3"})
	rec := do(e, http.MethodGet, "/healthz", nil)

	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200", rec.Code)
	}
	if got := rec.Header().Get("Content-Type"); !strings.HasPrefix(got, "application/json") {
		t.Errorf("Content-Type = %q", got)
	}
	body := decode[map[string]string](t, rec)
	if body["status"] != "ok" || body["version"] != "1.2.3" {
		t.Errorf("body = %v", body)
	}
	for k, want := range map[string]string{
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
	} {
		if got := rec.Header().Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

func TestReadyz(t *testing.T) {
	ok := func(context.Context) error { return nil }
	secretErr := errors.New("dial tcp redis.internal:6379: auth secret-password rejected")
	probeCalled := false

	tests := []struct {
		name       string
		opts       Options
		wantStatus int
		wantBody   string // status member
		wantChecks map[string]string
	}{
		{
			name:       "all pass",
			opts:       Options{Checks: []Check{{"database", ok}, {"redis", ok}}},
			wantStatus: http.StatusOK,
			wantBody:   "ready",
			wantChecks: map[string]string{"database": "ok", "redis": "ok"},
		},
		{
			name:       "no checks",
			wantStatus: http.StatusOK,
			wantBody:   "ready",
			wantChecks: map[string]string{},
		},
		{
			name: "one fails",
			opts: Options{Checks: []Check{
				{"database", ok},
				{"redis", func(context.Context) error { return fmt.Errorf("ping: %w", secretErr) }},
			}},
			wantStatus: http.StatusServiceUnavailable,
			wantBody:   "not ready",
			wantChecks: map[string]string{"database": "ok", "redis": "unreachable"},
		},
		{
			name:       "probe panics",
			opts:       Options{Checks: []Check{{"database", func(context.Context) error { panic("boom") }}}},
			wantStatus: http.StatusServiceUnavailable,
			wantBody:   "not ready",
			wantChecks: map[string]string{"database": "unreachable"},
		},
		{
			name: "gate closed",
			opts: Options{
				Ready: func() bool { return false },
				Checks: []Check{{"database", func(context.Context) error {
					probeCalled = true
					return nil
				}}},
			},
			wantStatus: http.StatusServiceUnavailable,
			wantBody:   "not ready",
			wantChecks: map[string]string{"startup": "pending"},
		},
		{
			name:       "gate open",
			opts:       Options{Ready: func() bool { return true }, Checks: []Check{{"database", ok}}},
			wantStatus: http.StatusOK,
			wantBody:   "ready",
			wantChecks: map[string]string{"database": "ok"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, logs := newTestEcho(t, tc.opts)
			rec := do(e, http.MethodGet, "/readyz", nil)

			if rec.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tc.wantStatus, rec.Body)
			}
			if got := rec.Header().Get("Content-Type"); !strings.HasPrefix(got, "application/json") {
				t.Errorf("Content-Type = %q", got)
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q", got)
			}
			body := decode[readyBody](t, rec)
			if body.Status != tc.wantBody {
				t.Errorf("status member = %q, want %q", body.Status, tc.wantBody)
			}
			if fmt.Sprint(body.Checks) != fmt.Sprint(tc.wantChecks) {
				t.Errorf("checks = %v, want %v", body.Checks, tc.wantChecks)
			}
			// The cause stays out of the body but reaches the operator.
			if strings.Contains(rec.Body.String(), "secret-password") {
				t.Errorf("body leaks the probe error: %s", rec.Body)
			}
			if tc.name == "one fails" {
				warns := logs.find(t, "readiness check failed")
				if len(warns) != 1 || warns[0]["check"] != "redis" || warns[0]["level"] != "WARN" ||
					!strings.Contains(fmt.Sprint(warns[0]["error"]), "secret-password") {
					t.Errorf("want one WARN naming redis with its error, got %v", warns)
				}
			}
		})
	}
	if probeCalled {
		t.Error("checks ran while the readiness gate was closed")
	}
}

func TestRunProbe_Overrun(t *testing.T) {
	// A probe that ignores its context must not hold /readyz past the deadline.
	release := make(chan struct{})
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()

	err := runProbe(ctx, func(context.Context) error { <-release; return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
}

var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestRequestID(t *testing.T) {
	valid128 := strings.Repeat("a", 128)
	tests := []struct {
		name     string
		incoming string // "" = header absent
		keep     bool   // the incoming id is echoed
	}{
		{"absent", "", false},
		{"valid", "gw-1234_abc.DEF", true},
		{"valid max length", valid128, true},
		{"spaces", "abc def", false},
		{"newline", "abc\r\nX-Injected: 1", false},
		{"too long", strings.Repeat("a", 129), false},
		{"very long", strings.Repeat("b", 500), false},
		{"non ascii", "idé", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, logs := newTestEcho(t, Options{})
			e.GET("/whoami", func(c echo.Context) error {
				return c.String(http.StatusOK, RequestID(c.Request().Context()))
			})
			h := http.Header{}
			if tc.incoming != "" {
				h.Set("X-Request-Id", tc.incoming)
			}
			rec := do(e, http.MethodGet, "/whoami", h)

			id := rec.Header().Get("X-Request-Id")
			if tc.keep && id != tc.incoming {
				t.Errorf("X-Request-Id = %q, want the incoming %q", id, tc.incoming)
			}
			if !tc.keep && !hex32.MatchString(id) {
				t.Errorf("X-Request-Id = %q, want 32 fresh hex characters", id)
			}
			if got := rec.Body.String(); got != id {
				t.Errorf("RequestID(ctx) in the handler = %q, header %q", got, id)
			}
			if got := logs.accessLine(t, "/whoami")[requestIDKey]; got != id {
				t.Errorf("access line request_id = %v, want %q", got, id)
			}
		})
	}

	t.Run("fresh per request", func(t *testing.T) {
		e, _ := newTestEcho(t, Options{})
		a := do(e, http.MethodGet, "/healthz", nil).Header().Get("X-Request-Id")
		b := do(e, http.MethodGet, "/healthz", nil).Header().Get("X-Request-Id")
		if a == b {
			t.Errorf("two requests got the same id %q", a)
		}
	})

	if got := RequestID(context.Background()); got != "" {
		t.Errorf("RequestID(empty ctx) = %q", got)
	}
}

func TestAccessLog(t *testing.T) {
	e, logs := newTestEcho(t, Options{})
	h := http.Header{}
	h.Set("Authorization", "Bearer HEADER-SHOULD-NOT-LEAK")
	h.Set("Cookie", "session=COOKIE-SHOULD-NOT-LEAK")
	req := httptest.NewRequest(http.MethodGet, "/readyz?access_token=SHOULD-NOT-LEAK", nil)
	req.Header = h
	req.RemoteAddr = "192.0.2.7:5555"
	req.Header.Set("X-Forwarded-For", "203.0.113.9") // spoofable: must not be trusted by default
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	do(e, http.MethodGet, "/no/such/thing", nil)

	all := logs.String()
	for _, secret := range []string{"SHOULD-NOT-LEAK", "access_token", "Bearer", "session="} {
		if strings.Contains(all, secret) {
			t.Errorf("logs contain %q:\n%s", secret, all)
		}
	}

	line := logs.accessLine(t, "/readyz")
	want := map[string]any{
		"level":     "INFO",
		"method":    "GET",
		"route":     "/readyz",
		"status":    float64(200),
		"bytes_out": float64(rec.Body.Len()),
		"remote_ip": "192.0.2.7",
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v (%T), want %v", k, line[k], line[k], v)
		}
	}
	if _, ok := line["duration_ms"].(float64); !ok {
		t.Errorf("duration_ms = %v, want a number", line["duration_ms"])
	}
	rawLine := regexp.MustCompile(`(?m)^.*"path":"/readyz".*$`).FindString(all)
	if n := strings.Count(rawLine, `"request_id"`); n != 1 {
		t.Errorf("access line has %d request_id members, want 1 (LogHandler must not duplicate it)", n)
	}

	miss := logs.accessLine(t, "/no/such/thing")
	if miss["route"] != unmatchedRoute || miss["status"] != float64(404) || miss["level"] != "INFO" {
		t.Errorf("unmatched access line = %v", miss)
	}
}

func TestLogHandler(t *testing.T) {
	var buf syncBuffer
	logger := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil))).With("component", "test")
	e := New(Options{Logger: logger, Registry: prometheus.NewRegistry()})
	e.GET("/work", func(c echo.Context) error {
		logger.InfoContext(c.Request().Context(), "deep in the domain")
		return c.NoContent(http.StatusNoContent)
	})
	rec := do(e, http.MethodGet, "/work", nil)
	logger.Info("no context")

	id := rec.Header().Get("X-Request-Id")
	deep := buf.find(t, "deep in the domain")
	if len(deep) != 1 || deep[0][requestIDKey] != id || deep[0]["component"] != "test" {
		t.Errorf("want request_id %q and component on the domain line, got %v", id, deep)
	}
	plain := buf.find(t, "no context")
	if len(plain) != 1 || plain[0][requestIDKey] != nil {
		t.Errorf("a line without request context got a request_id: %v", plain)
	}
}

// metricValue returns the value of the sample of name whose labels include
// every given label, failing if there is not exactly one.
func metricValue(t *testing.T, text, name string, labels ...string) float64 {
	t.Helper()
	var found []string
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		labelSet := line[len(name) : strings.LastIndex(line, "}")+1]
		match := true
		for _, l := range labels {
			if !strings.Contains(labelSet, l) {
				match = false
			}
		}
		if match {
			found = append(found, line)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want 1 %s sample with %v, got %q", name, labels, found)
	}
	v, err := strconv.ParseFloat(found[0][strings.LastIndex(found[0], " ")+1:], 64)
	if err != nil {
		t.Fatalf("parse %q: %v", found[0], err)
	}
	return v
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	e, _ := newTestEcho(t, Options{Registry: reg})
	for range 3 {
		do(e, http.MethodGet, "/healthz", nil)
	}
	do(e, http.MethodGet, "/wp-admin/setup.php", nil)
	do(e, http.MethodGet, "/random/"+strings.Repeat("x", 40), nil)

	rec := do(e, http.MethodGet, "/metrics", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics status = %d", rec.Code)
	}
	text := rec.Body.String()

	if got := metricValue(t, text, "weft_http_requests_total", `route="/healthz"`, `method="GET"`, `status="200"`); got != 3 {
		t.Errorf("healthz count = %v, want 3", got)
	}
	if got := metricValue(t, text, "weft_http_requests_total", `route="unmatched"`, `status="404"`); got != 2 {
		t.Errorf("unmatched count = %v, want 2", got)
	}
	if got := metricValue(t, text, "weft_http_request_duration_seconds_count", `route="/healthz"`, `status="200"`); got != 3 {
		t.Errorf("healthz histogram count = %v, want 3", got)
	}
	metricValue(t, text, "weft_http_request_duration_seconds_bucket", `route="/healthz"`, `le="0.0005"`)
	for _, leak := range []string{"wp-admin", "xxxx"} {
		if strings.Contains(text, leak) {
			t.Errorf("raw path %q became a label", leak)
		}
	}
	for _, family := range []string{"go_goroutines", "process_"} {
		if !strings.Contains(text, family) {
			t.Errorf("runtime metric %s missing", family)
		}
	}

	// A second server on the same registry (or a caller that already added the
	// Go collector) shares the collectors instead of panicking.
	e2, _ := newTestEcho(t, Options{Registry: reg})
	do(e2, http.MethodGet, "/healthz", nil)
	text = do(e, http.MethodGet, "/metrics", nil).Body.String()
	if got := metricValue(t, text, "weft_http_requests_total", `route="/healthz"`, `status="200"`); got != 4 {
		t.Errorf("shared healthz count = %v, want 4", got)
	}
}

var errNoUser = errors.New("no such user")

func TestErrorHandler(t *testing.T) {
	errConflict := errors.New("already exists")
	e, logs := newTestEcho(t, Options{Errors: []ErrorMapping{
		{Err: errNoUser, Status: http.StatusNotFound},
		{Err: errConflict, Status: http.StatusConflict, Title: "Conflict: duplicate"},
	}})
	e.Match([]string{http.MethodGet, http.MethodHead}, "/mapped", func(echo.Context) error {
		return fmt.Errorf("find user %q: %w", "bob", errNoUser)
	})
	e.GET("/conflict", func(echo.Context) error { return errConflict })
	e.GET("/unmapped", func(echo.Context) error {
		return errors.New("query failed on postgres://admin:hunter2@db.internal/weft")
	})
	e.GET("/panic", func(echo.Context) error { panic("handler exploded") })
	e.GET("/problem", func(echo.Context) error {
		return &Problem{Type: "https://weft.dev/problems/quota", Title: "Quota exceeded", Status: 429, Detail: "try later"}
	})
	e.GET("/httperror", func(echo.Context) error { return echo.NewHTTPError(http.StatusBadRequest, "missing client_id") })
	e.GET("/httperror500", func(echo.Context) error {
		return echo.NewHTTPError(http.StatusBadGateway, "upstream idp.internal refused").SetInternal(errors.New("dial idp.internal"))
	})
	e.GET("/committed", func(c echo.Context) error {
		_ = c.String(http.StatusOK, "partial")
		return errors.New("late failure")
	})

	tests := []struct {
		name       string
		method     string
		path       string
		wantStatus int
		want       Problem // RequestID checked separately
		absent     string  // must not be in the body
		logged     string  // must be in an ERROR line, "" = no ERROR line besides access
	}{
		{
			name: "mapped sentinel", path: "/mapped", wantStatus: 404,
			want: Problem{Title: "Not Found", Status: 404, Detail: `find user "bob": no such user`},
		},
		{
			name: "mapped with title", path: "/conflict", wantStatus: 409,
			want: Problem{Title: "Conflict: duplicate", Status: 409, Detail: "already exists"},
		},
		{
			name: "unmapped", path: "/unmapped", wantStatus: 500,
			want:   Problem{Title: "Internal Server Error", Status: 500},
			absent: "hunter2", logged: "hunter2",
		},
		{
			name: "panic", path: "/panic", wantStatus: 500,
			want:   Problem{Title: "Internal Server Error", Status: 500},
			absent: "exploded", logged: "handler exploded",
		},
		{
			name: "problem passes through", path: "/problem", wantStatus: 429,
			want: Problem{Type: "https://weft.dev/problems/quota", Title: "Quota exceeded", Status: 429, Detail: "try later"},
		},
		{
			name: "echo HTTPError 4xx", path: "/httperror", wantStatus: 400,
			want: Problem{Title: "Bad Request", Status: 400, Detail: "missing client_id"},
		},
		{
			name: "echo HTTPError 5xx", path: "/httperror500", wantStatus: 502,
			want:   Problem{Title: "Bad Gateway", Status: 502},
			absent: "idp.internal", logged: "dial idp.internal",
		},
		{
			name: "unknown route", path: "/nowhere", wantStatus: 404,
			want: Problem{Title: "Not Found", Status: 404},
		},
		{
			name: "wrong method", method: http.MethodDelete, path: "/healthz", wantStatus: 405,
			want: Problem{Title: "Method Not Allowed", Status: 405},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			rec := do(e, method, tc.path, nil)

			if rec.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tc.wantStatus, rec.Body)
			}
			if got := rec.Header().Get("Content-Type"); got != "application/problem+json" {
				t.Errorf("Content-Type = %q", got)
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q", got)
			}
			if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q", got)
			}
			got := decode[Problem](t, rec)
			if id := rec.Header().Get("X-Request-Id"); got.RequestID != id || id == "" {
				t.Errorf("request_id member = %q, header %q", got.RequestID, id)
			}
			got.RequestID = ""
			if got != tc.want {
				t.Errorf("problem = %+v, want %+v", got, tc.want)
			}
			if tc.absent != "" && strings.Contains(rec.Body.String(), tc.absent) {
				t.Errorf("body leaks %q: %s", tc.absent, rec.Body)
			}

			// Server-side error lines for this request, apart from the access line.
			id := rec.Header().Get("X-Request-Id")
			var errLines []map[string]any
			for _, l := range logs.lines(t) {
				if l["msg"] != "http request" && l[requestIDKey] == id && l["level"] != "INFO" {
					errLines = append(errLines, l)
				}
			}
			if tc.logged == "" {
				if len(errLines) != 0 {
					t.Errorf("a %d was logged as a server error: %v", tc.wantStatus, errLines)
				}
				return
			}
			if len(errLines) != 1 {
				t.Fatalf("want exactly one error line, got %v", errLines)
			}
			line := errLines[0]
			if tc.name == "panic" && !strings.Contains(fmt.Sprint(line["stack"]), "runtime/debug.Stack") {
				t.Errorf("panic line has no stack: %v", line["stack"])
			}
			raw, _ := json.Marshal(line)
			if line["level"] != "ERROR" || !strings.Contains(string(raw), tc.logged) {
				t.Errorf("error line = %s, want ERROR with %q", raw, tc.logged)
			}
			if access := logs.accessLine(t, tc.path); access["level"] != "ERROR" || access["status"] != float64(tc.wantStatus) {
				t.Errorf("access line for a 5xx = %v", access)
			}
		})
	}

	t.Run("server keeps serving after a panic", func(t *testing.T) {
		do(e, http.MethodGet, "/panic", nil)
		if rec := do(e, http.MethodGet, "/healthz", nil); rec.Code != http.StatusOK {
			t.Errorf("healthz after panic = %d", rec.Code)
		}
	})

	t.Run("HEAD gets no body", func(t *testing.T) {
		rec := do(e, http.MethodHead, "/mapped", nil)
		if rec.Code != http.StatusNotFound || rec.Body.Len() != 0 {
			t.Errorf("HEAD = %d with %d body bytes", rec.Code, rec.Body.Len())
		}
	})

	t.Run("committed response is left alone", func(t *testing.T) {
		rec := do(e, http.MethodGet, "/committed", nil)
		if rec.Code != http.StatusOK || rec.Body.String() != "partial" {
			t.Errorf("got %d %q, want the handler's own 200 partial", rec.Code, rec.Body)
		}
	})

	t.Run("shared Problem value is not mutated", func(t *testing.T) {
		shared := &Problem{Title: "Gone", Status: http.StatusGone}
		e.GET("/gone", func(echo.Context) error { return shared })
		do(e, http.MethodGet, "/gone", nil)
		if shared.RequestID != "" {
			t.Errorf("handler wrote request_id %q into a shared *Problem", shared.RequestID)
		}
	})
}

func TestServe(t *testing.T) {
	e, _ := newTestEcho(t, Options{Version: "serve-test"})
	started := make(chan struct{})
	e.GET("/slow", func(c echo.Context) error {
		close(started)
		time.Sleep(300 * time.Millisecond)
		return c.String(http.StatusOK, "done")
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrs := make(chan net.Addr, 1)
	served := make(chan error, 1)
	go func() {
		served <- Serve(ctx, e, "127.0.0.1:0", 5*time.Second, func(a net.Addr) { addrs <- a })
	}()
	var addr string
	select {
	case a := <-addrs:
		addr = a.String()
	case err := <-served:
		t.Fatalf("Serve returned before ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("ready callback never called")
	}

	// Fresh connections each time, so "refused" below tests the listener.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	get := func(path string) (int, string, error) {
		res, err := client.Get("http://" + addr + path)
		if err != nil {
			return 0, "", err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return res.StatusCode, string(b), err
	}

	code, body, err := get("/healthz")
	if err != nil || code != http.StatusOK || !strings.Contains(body, `"version":"serve-test"`) {
		t.Fatalf("GET /healthz = %d %q %v", code, body, err)
	}

	type result struct {
		code int
		body string
		err  error
	}
	slow := make(chan result, 1)
	go func() {
		c, b, err := get("/slow")
		slow <- result{c, b, err}
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("slow request never reached the handler")
	}
	cancel() // shut down while /slow is in flight

	select {
	case r := <-slow:
		if r.err != nil || r.code != http.StatusOK || r.body != "done" {
			t.Errorf("in-flight request = %d %q %v, want 200 done", r.code, r.body, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("in-flight request never completed")
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve = %v, want nil after a clean shutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}

	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Error("a new connection was accepted after shutdown")
	}
}

func TestServe_ShutdownTimeout(t *testing.T) {
	e, _ := newTestEcho(t, Options{})
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	e.GET("/stuck", func(c echo.Context) error {
		close(started)
		<-release
		return c.NoContent(http.StatusOK)
	})

	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan net.Addr, 1)
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, e, "127.0.0.1:0", 50*time.Millisecond, func(a net.Addr) { addrs <- a }) }()
	addr := (<-addrs).String()
	go func() {
		if res, err := http.Get("http://" + addr + "/stuck"); err == nil {
			res.Body.Close()
		}
	}()
	<-started
	cancel()

	select {
	case err := <-served:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Serve = %v, want a DeadlineExceeded shutdown error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve hung on a request that outlived the shutdown timeout")
	}
}

func TestServe_BindError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()

	e, _ := newTestEcho(t, Options{})
	readyCalled := false
	err = Serve(context.Background(), e, addr, time.Second, func(net.Addr) { readyCalled = true })
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("Serve on a busy port = %v, want an error naming %s", err, addr)
	}
	if readyCalled {
		t.Error("ready called although nothing was bound")
	}
}

// A request the client cancelled is a cancellation in the log (INFO, 499), not an ERROR
// 500 with a stack of context errors (issue 9, item 15).
func TestErrorHandler_ClientCancelled(t *testing.T) {
	e, logs := newTestEcho(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	e.GET("/slow", func(c echo.Context) error {
		cancel() // the client gives up while the handler works
		<-c.Request().Context().Done()
		return fmt.Errorf("load something: %w", c.Request().Context().Err())
	})
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/slow", nil).WithContext(ctx))
	if rec.Code != StatusClientClosedRequest {
		t.Fatalf("status %d, want 499", rec.Code)
	}
	if got := logs.find(t, "request cancelled by the client"); len(got) != 1 || got[0]["level"] != "INFO" {
		t.Fatalf("cancellation lines = %v", got)
	}
	if got := logs.find(t, "request failed"); len(got) != 0 {
		t.Fatalf("a cancellation was logged as a failure: %v", got)
	}
	if line := logs.accessLine(t, "/slow"); line["status"] != float64(StatusClientClosedRequest) {
		t.Fatalf("access log = %v", line)
	}

	// A handler's own context.Canceled while the client is still there is a failure.
	e.GET("/broken", func(c echo.Context) error { return context.Canceled })
	rec = httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/broken", nil))
	if rec.Code != http.StatusInternalServerError || len(logs.find(t, "request failed")) != 1 {
		t.Fatalf("/broken: %d, failures logged %v", rec.Code, logs.find(t, "request failed"))
	}
}
