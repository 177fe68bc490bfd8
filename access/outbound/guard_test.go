package outbound

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeDNS maps host names to addresses; a name with several answers returns them in
// turn on successive lookups (a rebinding attacker's DNS), the last one sticking.
type fakeDNS struct {
	mu      sync.Mutex
	answers map[string][][]string
	asked   map[string]int
}

func newDNS(m map[string][][]string) *fakeDNS {
	return &fakeDNS{answers: m, asked: map[string]int{}}
}

func (d *fakeDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	seq, ok := d.answers[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	i := min(d.asked[host], len(seq)-1)
	d.asked[host]++
	var out []netip.Addr
	for _, s := range seq[i] {
		out = append(out, netip.MustParseAddr(s))
	}
	return out, nil
}

// dialRecorder records every address the guard asks to connect to, and connects only
// to loopback ones: a bug that lets a private address through fails the test instead of
// sending a packet there.
type dialRecorder struct {
	mu       sync.Mutex
	attempts []string
}

func (r *dialRecorder) dial(ctx context.Context, network, address string) (net.Conn, error) {
	r.mu.Lock()
	r.attempts = append(r.attempts, address)
	r.mu.Unlock()
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !ap.Addr().Unmap().IsLoopback() {
		return nil, fmt.Errorf("test dialer: refusing to connect to non-loopback %s", address)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}

func (r *dialRecorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.attempts...)
}

// public is an address the tests pretend a receiver's host resolves to; it is never
// dialled (the registration check does not connect).
const public = "93.184.215.14"

func dns() *fakeDNS {
	return newDNS(map[string][][]string{
		"rp.example":       {{public}},
		"rp6.example":      {{"2606:4700:4700::1111"}},
		"internal.example": {{"10.0.0.1"}},
		"meta.example":     {{"169.254.169.254"}},
		"ula.example":      {{"fd00::1"}},
		"cgnat.example":    {{"100.64.0.1"}},
		"mixed.example":    {{public, "10.0.0.1"}},
		"mapped.example":   {{"::ffff:10.0.0.1"}},
		"loop.example":     {{"127.0.0.1"}},
		"hooks.corp":       {{"10.9.9.9"}},
	})
}

// TestGuard_CheckURL: the registration rule, with a resolver that maps names; an issuer
// that is not on loopback (Policy.Loopback false) and one on loopback.
func TestGuard_CheckURL(t *testing.T) {
	strict := New(Policy{AllowHosts: []string{"hooks.corp"}, Allow: []netip.Prefix{netip.MustParsePrefix("10.7.0.0/16")}},
		Options{Resolver: dns(), Dial: (&dialRecorder{}).dial})
	laptop := New(Policy{Loopback: true}, Options{Resolver: dns(), Dial: (&dialRecorder{}).dial})
	for _, tc := range []struct {
		name, url string
		g         *Guard
		refuse    string // "" accepted
	}{
		{"public host", "https://rp.example/ssf?x=1", strict, ""},
		{"public IPv6 host", "https://rp6.example:8443/ssf", strict, ""},
		{"public literal", "https://" + public + "/x", strict, ""},
		{"private by DNS", "https://internal.example/", strict, "private"},
		{"metadata by DNS", "https://meta.example/latest/", strict, "metadata"},
		{"ULA by DNS", "https://ula.example/", strict, "private"},
		{"CGNAT by DNS", "https://cgnat.example/", strict, "carrier-grade"},
		{"one bad answer of two", "https://mixed.example/", strict, "private"},
		{"mapped IPv6 answer", "https://mapped.example/", strict, "private"},
		{"loopback by DNS", "https://loop.example/", strict, "loopback"},
		{"does not resolve", "https://nowhere.example/", strict, "does not resolve"},
		{"metadata literal", "https://169.254.169.254/latest/", strict, "metadata"},
		{"private literal", "https://10.0.0.1/", strict, "private"},
		{"mapped literal", "https://[::ffff:127.0.0.1]:9771/mapped", strict, "loopback"},
		{"loopback https", "https://127.0.0.1:9771/x", strict, "loopback"},
		{"loopback http", "http://127.0.0.1:9771/internal/admin?x=1", strict, "https"},
		{"localhost http", "http://localhost:9771/x", strict, "https"},
		{"IPv6 loopback http", "http://[::1]:9771/x", strict, "https"},
		{"redis port", "http://127.0.0.1:6379/", strict, "https"},
		{"localhost https", "https://localhost/x", strict, "loopback"},
		{"zero address", "https://0.0.0.0/", strict, "unspecified"},
		{"http elsewhere", "http://rp.example/x", strict, "https"},
		{"user info", "https://u:p@rp.example/x", strict, "user information"},
		{"fragment", "https://rp.example/x#f", strict, "fragment"},
		{"gopher", "gopher://rp.example/x", strict, "https"},
		{"file", "file:///etc/passwd", strict, "https"},
		{"relative", "/ssf/events", strict, "absolute"},
		{"no host", "https:///x", strict, "host"},
		{"allowed host name", "https://hooks.corp/in", strict, ""},
		{"allowed prefix", "https://10.7.1.1/in", strict, ""},
		{"outside allowed prefix", "https://10.8.1.1/in", strict, "private"},
		// The issuer on loopback: loopback (and http to it) is allowed, nothing else is.
		{"laptop loopback http", "http://127.0.0.1:9771/x", laptop, ""},
		{"laptop localhost http", "http://localhost:9771/x", laptop, ""},
		{"laptop IPv6 loopback", "http://[::1]:9771/x", laptop, ""},
		{"laptop loopback by DNS", "https://loop.example/", laptop, ""},
		{"laptop http to a name", "http://loop.example/", laptop, "https"},
		{"laptop private", "https://internal.example/", laptop, "private"},
		{"laptop metadata", "https://169.254.169.254/", laptop, "metadata"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.g.CheckURL(context.Background(), tc.url)
			if tc.refuse == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.refuse) {
				t.Fatalf("got %v, want a refusal naming %q", err, tc.refuse)
			}
			if strings.Contains(tc.url, ".example/") && strings.Contains(err.Error(), "10.0.0.1") {
				t.Fatalf("the error shows a resolved address: %v", err)
			}
		})
	}
}

// TestClient_RefusesInternalAddressesBeforeConnecting: at delivery the dialer resolves
// the host itself and refuses internal answers before any connection; a host that
// resolved to a public address at registration and to a private one at delivery (DNS
// rebinding) is refused too. The recording dial hook shows nothing was dialled.
func TestClient_RefusesInternalAddressesBeforeConnecting(t *testing.T) {
	resolver := newDNS(map[string][][]string{
		"internal.example": {{"10.0.0.1"}},
		"meta.example":     {{"169.254.169.254"}},
		"v6.example":       {{"fd00::1"}},
		"rebind.example":   {{public}, {"10.0.0.1"}},
	})
	rec := &dialRecorder{}
	g := New(Policy{}, Options{Resolver: resolver, Dial: rec.dial})
	if err := g.CheckURL(context.Background(), "https://rebind.example/ssf"); err != nil {
		t.Fatalf("registration of the rebinding host: %v", err)
	}
	c := g.Client()
	for _, u := range []string{
		"https://internal.example/x", "https://meta.example/latest/meta-data/", "https://v6.example/",
		"https://rebind.example/ssf?token=s3cret", "https://10.0.0.1/", "https://[fd00::1]:8443/", "https://169.254.169.254/",
		"https://[::ffff:10.0.0.1]/",
	} {
		t.Run(u, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader("set"))
			resp, err := c.Do(req)
			if err == nil {
				resp.Body.Close()
				t.Fatal("delivered")
			}
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("error %v does not wrap ErrRefused", err)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("the error carries the query: %v", err)
			}
		})
	}
	if got := rec.seen(); len(got) != 0 {
		t.Fatalf("the dial hook was asked to connect to %v", got)
	}
}

// TestControl_RefusesBeforeConnect: the Control hook of the real dialer (no injected
// dial) refuses a loopback address while loopback is not allowed: a loopback listener,
// standing in for an internal service, never sees a connection.
func TestControl_RefusesBeforeConnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	g := New(Policy{}, Options{})
	// The dialer itself, as the transport uses it, with an address that skipped the
	// resolver's check (as if a check upstream were missing).
	_, err = g.opts.Dial(context.Background(), "tcp", ln.Addr().String())
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("dial: %v", err)
	}
	// The pure hook, for addresses we must never dial.
	for _, a := range []string{"10.0.0.1:443", "[fd00::1]:443", "169.254.169.254:80", "[::ffff:10.0.0.1]:443", "100.64.0.1:443"} {
		if err := g.Control("tcp4", a, nil); !errors.Is(err, ErrRefused) {
			t.Errorf("Control(%s) = %v", a, err)
		}
	}
	if err := g.Control("tcp4", public+":443", nil); err != nil {
		t.Errorf("Control(public) = %v", err)
	}
	if err := g.Control("udp4", public+":443", nil); err == nil {
		t.Error("Control allowed udp")
	}
	// With loopback allowed the same dialer connects.
	open := New(Policy{Loopback: true}, Options{})
	c, err := open.opts.Dial(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial with loopback allowed: %v", err)
	}
	c.Close()
	deadline := time.Now().Add(2 * time.Second)
	for accepted.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := accepted.Load(); n != 1 {
		t.Fatalf("listener accepted %d connections, want 1 (only the allowed dial)", n)
	}
}

// TestClient_LoopbackStandsInForInternalService: a loopback server plays an internal
// service (an Envoy admin port). With an issuer that is not on loopback it is
// unreachable by literal, by name and over TLS; with the issuer on loopback it is
// reachable, and redirects are not followed.
func TestClient_LoopbackStandsInForInternalService(t *testing.T) {
	var hits atomic.Int32
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer internal.Close()
	tlsInternal := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer tlsInternal.Close()
	port := internal.Listener.Addr().(*net.TCPAddr).Port
	resolver := newDNS(map[string][][]string{"svc.example": {{"127.0.0.1"}}})

	// Issuer https://weft.example: Policy.Loopback false.
	rec := &dialRecorder{}
	c := New(Policy{}, Options{Resolver: resolver, Dial: rec.dial}).Client()
	for _, u := range []string{
		internal.URL + "/quitquitquit", fmt.Sprintf("http://localhost:%d/x", port), fmt.Sprintf("http://[::ffff:127.0.0.1]:%d/", port),
		tlsInternal.URL + "/x", fmt.Sprintf("https://svc.example:%d/x", port), fmt.Sprintf("https://localhost:%d/", port),
	} {
		req, _ := http.NewRequest(http.MethodPost, u, nil)
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
			t.Errorf("%s: delivered (%d)", u, resp.StatusCode)
		} else if !errors.Is(err, ErrRefused) {
			t.Errorf("%s: %v", u, err)
		}
	}
	if hits.Load() != 0 || len(rec.seen()) != 0 {
		t.Fatalf("the internal service got %d requests; dials %v", hits.Load(), rec.seen())
	}

	// Issuer http://localhost:8080: Policy.Loopback true.
	c = New(Policy{Loopback: true}, Options{Resolver: resolver, Dial: rec.dial}).Client()
	req, _ := http.NewRequest(http.MethodPost, internal.URL+"/events", strings.NewReader("set"))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || hits.Load() != 1 {
		t.Fatalf("status %d, hits %d", resp.StatusCode, hits.Load())
	}

	// No redirects: the 307 is the answer; its target is never asked.
	redirector := httptest.NewServer(http.RedirectHandler(internal.URL+"/elsewhere", http.StatusTemporaryRedirect))
	defer redirector.Close()
	req, _ = http.NewRequest(http.MethodPost, redirector.URL, strings.NewReader("set"))
	req.Header.Set("Authorization", "Bearer receiver-secret")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || hits.Load() != 1 {
		t.Fatalf("redirect: status %d, internal hits %d", resp.StatusCode, hits.Load())
	}
}

// TestClient_Bounds: the response body is bounded in size and the exchange in time.
func TestClient_Bounds(t *testing.T) {
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(make([]byte, 1<<20))
	}))
	defer big.Close()
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(release)

	c := New(Policy{Loopback: true}, Options{MaxBody: 1024, Timeout: 300 * time.Millisecond}).Client()
	resp, err := c.Do(mustRequest(t, big.URL))
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if !errors.Is(err, errTooLarge) || n != 1024 {
		t.Fatalf("read %d bytes, err %v; want 1024 and errTooLarge", n, err)
	}
	exact := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(make([]byte, 1024)) }))
	defer exact.Close()
	resp, err = c.Do(mustRequest(t, exact.URL))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(resp.Body); err != nil || len(b) != 1024 {
		t.Fatalf("a body at the limit: %d bytes, %v", len(b), err)
	}
	resp.Body.Close()

	_, err = c.Do(mustRequest(t, hang.URL+"/x?token=s3cret"))
	if err == nil {
		t.Fatal("a hanging receiver answered")
	}
	if strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), hang.URL+"/x?…") {
		t.Fatalf("error %q: want the redacted URL", err)
	}
}

func mustRequest(t *testing.T, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// TestClient_AllowedHostName: a host the operator named is reached whatever it
// resolves to (the dial hook, loopback only, stands in for it).
func TestClient_AllowedHostName(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) }))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	rec := &dialRecorder{}
	resolver := newDNS(map[string][][]string{"hooks.corp": {{"127.0.0.1"}}, "other.corp": {{"127.0.0.1"}}})
	g := New(Policy{AllowHosts: []string{"hooks.corp"}}, Options{Resolver: resolver, Dial: rec.dial})
	// https only: the test server speaks http, so ask for the scheme check's answer on
	// http and use the transport's dial directly for the allowed name.
	if err := g.CheckURL(context.Background(), fmt.Sprintf("https://hooks.corp:%d/in", port)); err != nil {
		t.Fatal(err)
	}
	conn, err := g.dialContext(context.Background(), "tcp", fmt.Sprintf("hooks.corp:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if _, err := g.dialContext(context.Background(), "tcp", fmt.Sprintf("other.corp:%d", port)); !errors.Is(err, ErrRefused) {
		t.Fatalf("a host not named: %v", err)
	}
	if got := rec.seen(); len(got) != 1 || got[0] != fmt.Sprintf("127.0.0.1:%d", port) {
		t.Fatalf("dials %v", got)
	}
}
