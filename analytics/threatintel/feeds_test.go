package threatintel_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weft-fabric/weft/analytics/threatintel"
)

func newFeeds(t *testing.T, cfg threatintel.Config) *threatintel.Feeds {
	t.Helper()
	f, err := threatintel.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func lookup(f *threatintel.Feeds, ip string) (threatintel.Match, bool) {
	return f.Lookup(netip.MustParseAddr(ip))
}

// Three files, one of each format, in one table; the format comes from the extension.
func TestFeeds_Files(t *testing.T) {
	clock := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var now atomic.Pointer[time.Time]
	now.Store(&clock)
	f := newFeeds(t, threatintel.Config{
		Sources: []threatintel.Source{
			{Name: "cert", Location: "testdata/indicators.json"},
			{Name: "drop", Location: "testdata/blocklist.txt"},
			{Name: "vendor", Location: "testdata/feed.csv"},
		},
		Now: func() time.Time { return *now.Load() },
	})
	if err := f.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ip, source, prefix, indicator string
	}{
		{"198.51.100.1", "cert", "198.51.100.1/32", "indicator--a1f2e3d4-0001-4000-8000-000000000001"},
		{"203.0.113.77", "cert", "203.0.113.0/25", "indicator--a1f2e3d4-0002-4000-8000-000000000002"},
		{"2001:db8:bad:1::9", "cert", "2001:db8:bad::/48", "indicator--a1f2e3d4-0003-4000-8000-000000000003"},
		{"::ffff:198.51.100.21", "cert", "198.51.100.21/32", "indicator--a1f2e3d4-0004-4000-8000-000000000004"},
		{"192.0.2.63", "drop", "192.0.2.0/26", ""},
		{"203.0.113.200", "drop", "203.0.113.200/32", ""},
		{"203.0.113.20", "vendor", "203.0.113.16/28", ""},
		{"2001:db8:c0::1", "vendor", "2001:db8:c0::1/128", ""},
		{"192.0.2.64", "", "", ""},       // just past the /26
		{"198.51.100.40", "", "", ""},    // revoked
		{"198.51.100.41", "", "", ""},    // expired
		{"198.51.100.42", "", "", ""},    // not valid before 2090
		{"198.51.100.199", "", "", ""},   // an observable, not an indicator
		{"198.51.100.31", "", "", ""},    // AND pattern
		{"2001:db8:beef::2", "", "", ""}, // the neighbour of a listed /128
	}
	for _, tc := range tests {
		m, ok := lookup(f, tc.ip)
		if ok != (tc.source != "") || m.Source != tc.source || (ok && (m.Prefix.String() != tc.prefix || m.Indicator != tc.indicator)) {
			t.Errorf("Lookup(%s) = %+v, %v; want source %q prefix %q indicator %q", tc.ip, m, ok, tc.source, tc.prefix, tc.indicator)
		}
	}
	later := time.Date(2090, 6, 1, 0, 0, 0, 0, time.UTC)
	now.Store(&later)
	if m, ok := lookup(f, "198.51.100.42"); !ok || m.Source != "cert" {
		t.Errorf("an indicator inside its validity window does not match: %+v", m)
	}
	st := f.Status()
	if len(st) != 3 || st[0].Entries != 9 || st[0].Malformed != 3 || st[0].Skipped != 5 || st[1].Entries != 5 || st[1].Malformed != 3 ||
		st[2].Entries != 3 || st[2].Format != threatintel.CSV || !st[2].Healthy() || len(st[1].Problems) != 3 {
		t.Fatalf("status %+v", st)
	}
	if f.Len() != 17 {
		t.Fatalf("table has %d entries, want 17", f.Len())
	}
}

// feedServer serves body with an ETag, or fails with status when it is set.
type feedServer struct {
	mu        sync.Mutex
	body      string
	status    int
	requests  int
	notModify int
	headers   http.Header
}

func (s *feedServer) set(body string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.status = body, status
}

func (s *feedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	s.headers = r.Header.Clone()
	if s.status != 0 {
		http.Error(w, "upstream trouble", s.status)
		return
	}
	etag := `"` + strings.ReplaceAll(strings.TrimSpace(s.body), "\n", "|") + `"`
	if r.Header.Get("If-None-Match") == etag {
		s.notModify++
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("ETag", etag)
	_, _ = w.Write([]byte(s.body))
}

// A feed served over HTTP that goes down keeps its last good list, and says so.
func TestFeeds_FeedDownKeepsLastGoodList(t *testing.T) {
	fs := &feedServer{body: "198.51.100.1\n203.0.113.0/24\n"}
	srv := httptest.NewServer(fs)
	f := newFeeds(t, threatintel.Config{Sources: []threatintel.Source{{Name: "remote", Location: srv.URL + "/drop.txt?key=s3cret-key",
		Header: http.Header{"Authorization": {"Bearer s3cret-token"}}}}, Timeout: 2 * time.Second})
	ctx := context.Background()
	if err := f.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := lookup(f, "203.0.113.9"); !ok {
		t.Fatal("listed address not found after the first refresh")
	}
	good := f.Status()[0]
	if !good.Healthy() || good.Entries != 2 || strings.Contains(good.Location, "s3cret") || !strings.HasSuffix(good.Location, "/drop.txt") {
		t.Fatalf("status after success: %+v", good)
	}
	if got := fs.headers.Get("Authorization"); got != "Bearer s3cret-token" {
		t.Fatalf("the source's header was not sent: %q", got)
	}

	// Unchanged: the server answers 304 and the list stays.
	if err := f.Refresh(ctx); err != nil || fs.notModify != 1 {
		t.Fatalf("conditional refresh: %v, %d not-modified answers", err, fs.notModify)
	}
	good = f.Status()[0]
	if good.Entries != 2 || !good.Healthy() {
		t.Fatalf("status after 304: %+v", good)
	}

	// Server error, then an error page with 200, then the server gone.
	fs.set("", http.StatusBadGateway)
	fail := func(want string) {
		t.Helper()
		err := f.Refresh(ctx)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "s3cret") {
			t.Fatalf("refresh error %v, want one mentioning %q and no secret", err, want)
		}
		if m, ok := lookup(f, "198.51.100.1"); !ok || m.Source != "remote" {
			t.Fatal("a failed refresh dropped the last good list")
		}
		st := f.Status()[0]
		if st.Healthy() || st.LastError == "" || !st.LastSuccess.Equal(good.LastSuccess) || st.Entries != 2 || strings.Contains(st.LastError, "s3cret") {
			t.Fatalf("status after a failed refresh: %+v", st)
		}
	}
	fail("HTTP status 502")
	fs.set("<html><body>Maintenance</body></html>\n<p>back soon</p>\n", 0)
	fail("no valid entry")
	srv.Close()
	fail("fetch:")
	if st := f.Status()[0]; st.Failures != 3 {
		t.Fatalf("%d failures counted, want 3", st.Failures)
	}

	// Back with a new list: it replaces the old one.
	fs.set("192.0.2.5\n", 0)
	srv2 := httptest.NewServer(fs)
	defer srv2.Close()
	f2 := newFeeds(t, threatintel.Config{Sources: []threatintel.Source{{Name: "remote", Location: srv2.URL + "/drop.txt"}}})
	if err := f2.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := lookup(f2, "192.0.2.5"); !ok {
		t.Fatal("new list not in use")
	}
	if _, ok := lookup(f2, "198.51.100.1"); ok {
		t.Fatal("an address of no list matched")
	}
}

// One failing source does not hold back the others.
func TestFeeds_OneSourceFailsOthersLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.txt")
	if err := os.WriteFile(good, []byte("198.51.100.1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newFeeds(t, threatintel.Config{Sources: []threatintel.Source{
		{Name: "missing", Location: filepath.Join(dir, "missing.txt")},
		{Name: "good", Location: good},
		{Name: "big", Location: good, Format: threatintel.Plain},
	}, MaxBytes: 8})
	err := f.Refresh(context.Background())
	if err == nil || !strings.Contains(err.Error(), `"missing"`) || !strings.Contains(err.Error(), "larger than 8 bytes") {
		t.Fatalf("refresh error %v", err)
	}
	f2 := newFeeds(t, threatintel.Config{Sources: []threatintel.Source{
		{Name: "missing", Location: filepath.Join(dir, "missing.txt")},
		{Name: "good", Location: good},
	}})
	if err := f2.Refresh(context.Background()); err == nil {
		t.Fatal("a missing file refreshed")
	}
	if _, ok := lookup(f2, "198.51.100.1"); !ok {
		t.Fatal("the good source is not in use")
	}
	if st := f2.Status(); st[0].Healthy() || !st[1].Healthy() {
		t.Fatalf("status %+v", st)
	}
}

func TestNew_Rejects(t *testing.T) {
	tests := []struct {
		name string
		src  []threatintel.Source
	}{
		{"no name", []threatintel.Source{{Location: "x.txt"}}},
		{"no location", []threatintel.Source{{Name: "a"}}},
		{"duplicate name", []threatintel.Source{{Name: "a", Location: "x.txt"}, {Name: "a", Location: "y.txt"}}},
		{"unknown format", []threatintel.Source{{Name: "a", Location: "x.txt", Format: "xml"}}},
		{"unsupported scheme", []threatintel.Source{{Name: "a", Location: "ftp://feeds.example/x.txt"}}},
		{"URL without host", []threatintel.Source{{Name: "a", Location: "https:///x.txt"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := threatintel.New(threatintel.Config{Sources: tc.src}); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// Run refreshes at once and on its schedule, and returns when its context ends.
func TestFeeds_Run(t *testing.T) {
	fs := &feedServer{body: "198.51.100.1\n"}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	f := newFeeds(t, threatintel.Config{Sources: []threatintel.Source{{Name: "r", Location: srv.URL}}, Refresh: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		fs.mu.Lock()
		n := fs.requests
		fs.mu.Unlock()
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d fetches", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	if _, ok := lookup(f, "198.51.100.1"); !ok {
		t.Fatal("not loaded")
	}
}

func BenchmarkFeeds_Lookup(b *testing.B) {
	var sb strings.Builder
	for i := range 50000 {
		sb.WriteString(netip.AddrFrom4([4]byte{byte(11 + i%200), byte(i >> 8), byte(i), 0}).String() + "/24\n")
	}
	path := filepath.Join(b.TempDir(), "big.txt")
	if err := os.WriteFile(path, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	f, err := threatintel.New(threatintel.Config{Sources: []threatintel.Source{{Name: "big", Location: path}}})
	if err != nil {
		b.Fatal(err)
	}
	if err := f.Refresh(context.Background()); err != nil {
		b.Fatal(err)
	}
	hit, miss := netip.MustParseAddr("11.0.0.9"), netip.MustParseAddr("198.51.100.1")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := f.Lookup(hit); !ok {
			b.Fatal("miss")
		}
		if _, ok := f.Lookup(miss); ok {
			b.Fatal("hit")
		}
	}
}
