package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// fabric is the shared set-up of the multi-process tests: one PostgreSQL schema, one
// Redis prefix, the example fabric applied, and (after connect) a relying party and a
// SOAR tool that talk to node 1's issuer, as behind a load balancer.
type fabric struct {
	t      *testing.T
	bin    string
	env    []string
	redis  string
	addr1  string // node 1's address, which is also the issuer
	issuer string
	o      *oidcEnv
	soar   string // the SOAR tool's access token
}

// newFabric sets the fabric up; extra adds WEFT_* settings for every process.
func newFabric(t *testing.T, extra ...string) *fabric {
	t.Helper()
	f := &fabric{t: t, bin: weftBinary(t), redis: redisURL(t), addr1: closedPort(t)}
	f.issuer = "http://" + f.addr1
	f.env = []string{
		"WEFT_DATABASE_URL=" + sqltest.PostgresURL(t), "WEFT_REDIS_URL=" + f.redis, "WEFT_REDIS_PREFIX=weft-test:" + randomString() + ":",
		"WEFT_KEY_ENCRYPTION_KEY=" + testKEK, "WEFT_ARGON2_MEMORY_KIB=8192", "WEFT_ARGON2_THREADS=1",
		"WEFT_DATA_DIR=" + filepath.Join(t.TempDir(), "data"), "WEFT_LOG_LEVEL=info", "WEFT_ISSUER=" + f.issuer,
	}
	f.env = append(f.env, extra...)
	cli := &cliEnv{t: t, environ: f.env}
	cli.ok("", "migrate", "up")
	cli.ok("", "apply", "-f", exampleFabric)
	return f
}

// redisVia is the Redis URL of this fabric's database through proxy p.
func (f *fabric) redisVia(p *cutProxy) string {
	return "redis://" + p.addr() + "/" + redisDB(f.t, f.redis)
}

// connect discovers the issuer (node 1 must be listening) and gets the SOAR tool's token.
func (f *fabric) connect() {
	t := f.t
	ctx := context.Background()
	p, err := oidc.NewProvider(ctx, f.issuer)
	if err != nil {
		t.Fatal(err)
	}

	f.o = &oidcEnv{t: t, issuer: f.issuer, provider: p, web: oauth2.Config{ClientID: "demo-web", ClientSecret: "demo-web-secret",
		Endpoint: p.Endpoint(), RedirectURL: "http://127.0.0.1:9555/callback", Scopes: []string{oidc.ScopeOpenID}}}
	soar, err := (&clientcredentials.Config{ClientID: "demo-soar", ClientSecret: "demo-soar-secret",
		TokenURL: p.Endpoint().TokenURL, Scopes: []string{"weft:revoke"}}).Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.soar = soar.AccessToken
}

// signIn logs user in through the browser flow and returns the access token and its
// subject, checked active at n.
func (f *fabric) signIn(n *node, user, pw string) (token, subject string) {
	t := f.t
	v := oauth2.GenerateVerifier()
	cb := f.o.login(f.o.browser(), f.o.web.AuthCodeURL(randomString(), oauth2.S256ChallengeOption(v)), user, pw)
	tok, err := f.o.web.Exchange(context.Background(), cb.Query().Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	active, sub := introspectAt(t, n.base, tok.AccessToken)
	if !active {
		t.Fatal("a fresh token is inactive")
	}
	return tok.AccessToken, sub
}

// revokeSubject asks at to revoke subject and wants status back.
func (f *fabric) revokeSubject(at *node, subject string, status int) receipt {
	t := f.t
	body := `{"selector":{"type":"subject","value":"` + subject + `"},"reason":"fabric test"}`
	req, _ := http.NewRequest(http.MethodPost, at.base+"/api/v1/revocations", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+f.soar)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b := readAll(t, resp)
	if resp.StatusCode != status {
		t.Fatalf("revocation = %d %s, want %d", resp.StatusCode, b, status)
	}
	var r receipt
	if err := json.Unmarshal([]byte(b), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// receipt reads revocation id's receipt at n.
func (f *fabric) receipt(n *node, id string) receipt {
	t := f.t
	req, _ := http.NewRequest(http.MethodGet, n.base+"/api/v1/revocations/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+f.soar)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var r receipt
	if err := json.Unmarshal([]byte(readAll(t, resp)), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// metric reads one unlabelled sample from n's /metrics, or -1.
func metric(t *testing.T, n *node, name string) float64 {
	_, body := get(t, n.base+"/metrics")
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err == nil {
				return f
			}
		}
	}
	return -1
}

// cutProxy forwards TCP to a target until cut: then it drops every connection and
// refuses new ones, as a network partition would, until restored. Frozen, it keeps the
// connections open but forwards nothing, as a silent partition (a dead middlebox, a
// stuck peer) would: the client sees no error, only silence.
type cutProxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	down   bool
	frozen bool
	thaw   chan struct{} // closed when a freeze ends
	conns  map[net.Conn]bool
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{l: l, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { _ = l.Close(); p.unfreeze(); p.cut() })
	go p.serve()
	return p
}

func (p *cutProxy) addr() string { return p.l.Addr().String() }

func (p *cutProxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		go func() { p.pipe(up, c); _ = up.Close() }()
		go func() { p.pipe(c, up); _ = c.Close() }()
	}
}

// pipe copies src to dst, holding each chunk while the proxy is frozen.
func (p *cutProxy) pipe(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32*1024)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			frozen, thaw := p.frozen, p.thaw
			p.mu.Unlock()
			if frozen {
				<-thaw
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

func (p *cutProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

func (p *cutProxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.frozen {
		p.frozen, p.thaw = true, make(chan struct{})
	}
}

func (p *cutProxy) unfreeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.frozen {
		p.frozen = false
		close(p.thaw)
	}
}
