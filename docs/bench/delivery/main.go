// Command delivery measures how long a revocation takes to reach relying controls
// while another receiver hangs: from the revocation API's answer (201 of POST
// /api/v1/revocations) to the OIDC back-channel logout token arriving at a relying
// party and to the CAEP session-revoked SET arriving at an SSF push receiver. A second
// SSF receiver's push endpoints accept connections and never answer, and it keeps
// verification SETs queued for them. It starts the weft binary itself, on the embedded
// default, with everything on loopback.
//
//	go build -o /tmp/weft ./cmd/weft
//	go run ./docs/bench/delivery -weft /tmp/weft -fabric examples/fabric.yaml -n 200
package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

const (
	pushMethod     = "urn:ietf:rfc:8935"
	sessionRevoked = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
	callback       = "http://127.0.0.1:9555/callback" // never called: the bench reads the redirect
)

func main() {
	weft := flag.String("weft", "", "path to the weft binary")
	fabric := flag.String("fabric", "examples/fabric.yaml", "the example fabric (alice, demo-soar, demo-receiver)")
	n := flag.Int("n", 200, "revocations to measure")
	hanging := flag.Int("hanging", 2, "hanging push streams of the second receiver")
	wait := flag.Duration("wait", 30*time.Second, "how long to wait for each delivery before giving up")
	databaseURL := flag.String("database-url", "", "a fresh, empty PostgreSQL database on loopback (default: the embedded SQLite)")
	redisURL := flag.String("redis-url", "", "Redis on loopback, with -database-url")
	flag.Parse()
	if *weft == "" {
		fatal("delivery: -weft is required")
	}
	dir, err := os.MkdirTemp("", "weft-delivery-bench-")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(dir)

	bcl, set := newReceiver("logout_token"), newReceiver("")
	hang := hangingListener()
	port := freePort()
	issuer := "http://127.0.0.1:" + port
	env := append(os.Environ(), "WEFT_DATA_DIR="+dir, "WEFT_ISSUER="+issuer, "WEFT_LISTEN=127.0.0.1:"+port,
		"WEFT_LOG_LEVEL=warn", "WEFT_BOOTSTRAP_ADMIN_PASSWORD=bench-admin-password-1")
	if *databaseURL != "" {
		kek := make([]byte, 32)
		_, _ = rand.Read(kek)
		// A prefix of its own, so no other deployment on the same Redis counts as a node.
		env = append(env, "WEFT_DATABASE_URL="+*databaseURL, "WEFT_REDIS_URL="+*redisURL, "WEFT_REDIS_PREFIX=bench-"+random()[:8]+":",
			"WEFT_KEY_ENCRYPTION_KEY="+base64.StdEncoding.EncodeToString(kek))
	}
	run := func(stdin string, args ...string) {
		cmd := exec.Command(*weft, args...)
		cmd.Env, cmd.Stdin, cmd.Stderr = env, strings.NewReader(stdin), os.Stderr
		if err := cmd.Run(); err != nil {
			fatalf("weft %v: %v", args, err)
		}
	}
	run("", "apply", "-f", *fabric)
	run(`version: 1
clients:
  - id: bench-rp
    name: Relying party with back-channel logout
    type: confidential
    secret: bench-rp-secret-123
    redirect_uris: [`+callback+`]
    grant_types: [authorization_code]
    scopes: [openid]
    backchannel_logout_uri: `+bcl.url+`/bcl
  - id: bench-hanging-receiver
    name: SSF receiver whose endpoints hang
    type: confidential
    secret: bench-hanging-secret
    grant_types: [client_credentials]
    scopes: [weft:ssf]
`, "apply", "-f", "-")
	srv := exec.Command(*weft, "serve")
	srv.Env, srv.Stderr = env, os.Stderr
	if err := srv.Start(); err != nil {
		fatal(err)
	}
	stop = func() { _ = srv.Process.Signal(os.Interrupt); _ = srv.Wait() }
	defer stop()
	waitReady(issuer)

	soar := token(issuer, "demo-soar", "demo-soar-secret", "weft:revoke")
	good := token(issuer, "demo-receiver", "demo-receiver-secret", "weft:ssf")
	evil := token(issuer, "bench-hanging-receiver", "bench-hanging-secret", "weft:ssf")
	call(issuer, http.MethodPost, "/ssf/stream", good, fmt.Sprintf(`{"delivery":{"method":%q,"endpoint_url":%q},"default_subjects":"ALL","events_requested":[%q]}`,
		pushMethod, set.url+"/events", sessionRevoked), http.StatusCreated, nil)
	for i := range *hanging {
		var s struct {
			StreamID string `json:"stream_id"`
		}
		call(issuer, http.MethodPost, "/ssf/stream", evil, fmt.Sprintf(`{"delivery":{"method":%q,"endpoint_url":"%s/hang/%d"},"default_subjects":"ALL","events_requested":[%q]}`,
			pushMethod, hang, i, sessionRevoked), http.StatusCreated, &s)
		for range 3 {
			call(issuer, http.MethodPost, "/ssf/verify", evil, `{"stream_id":"`+s.StreamID+`"}`, http.StatusNoContent, nil)
		}
	}

	var toBCL, toSET []time.Duration
	early := 0
	for i := range *n {
		sid := signIn(issuer)
		body := fmt.Sprintf(`{"selector":{"type":"session","value":%q},"reason":"delivery bench %d"}`, sid, i)
		call(issuer, http.MethodPost, "/api/v1/revocations", soar, body, http.StatusCreated, nil)
		answered := time.Now()
		for _, r := range []struct {
			rcv *receiver
			out *[]time.Duration
		}{{bcl, &toBCL}, {set, &toSET}} {
			at, ok := r.rcv.wait(sid, *wait)
			if !ok {
				fatalf("revocation %d: nothing arrived at %s within %s", i, r.rcv.url, *wait)
			}
			if at.Before(answered) {
				early++ // delivered while the answer was on its way: counts as 0
			}
			*r.out = append(*r.out, max(at.Sub(answered), 0))
		}
	}
	fmt.Printf("revocations: %d, hanging push streams: %d (each with 3 verification SETs queued, and every session-revoked)\n", *n, *hanging)
	fmt.Printf("deliveries that arrived before the answer (counted as 0): %d of %d\n", early, 2**n)
	report("answer -> back-channel logout token at the relying party", toBCL)
	report("answer -> session-revoked SET at the SSF push receiver", toSET)
}

// stop stops the weft server, if it runs; fatal calls it before exiting.
var stop = func() {}

func fatal(v ...any) {
	stop()
	log.Fatal(v...)
}

func fatalf(format string, v ...any) {
	stop()
	log.Fatalf(format, v...)
}

func report(what string, ds []time.Duration) {
	slices.Sort(ds)
	q := func(p float64) time.Duration { return ds[min(len(ds)-1, int(p*float64(len(ds))))] }
	fmt.Printf("%-58s p50 %7.1f ms  p90 %7.1f ms  p99 %7.1f ms  max %7.1f ms\n", what,
		ms(q(0.50)), ms(q(0.90)), ms(q(0.99)), ms(ds[len(ds)-1]))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// receiver notes when a message naming a session arrives: a logout token (form field
// logout_token) or a SET (the body). Both are JWS; the session is found in the payload.
type receiver struct {
	url   string
	field string
	mu    sync.Mutex
	at    map[string]time.Time
	cond  *sync.Cond
}

func newReceiver(field string) *receiver {
	r := &receiver{field: field, at: map[string]time.Time{}}
	r.cond = sync.NewCond(&r.mu)
	ln := listen()
	r.url = "http://" + ln.Addr().String()
	go func() {
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			now := time.Now()
			var jws string
			if r.field != "" {
				jws = req.PostFormValue(r.field)
				w.WriteHeader(http.StatusOK)
			} else {
				b, _ := io.ReadAll(io.LimitReader(req.Body, 64<<10))
				jws = string(b)
				w.WriteHeader(http.StatusAccepted)
			}
			sid := sessionOf(jws)
			r.mu.Lock()
			if _, seen := r.at[sid]; !seen {
				r.at[sid] = now
			}
			r.cond.Broadcast()
			r.mu.Unlock()
		}))
	}()
	return r
}

func (r *receiver) wait(sid string, within time.Duration) (time.Time, bool) {
	deadline := time.Now().Add(within)
	timer := time.AfterFunc(within, func() { r.mu.Lock(); r.cond.Broadcast(); r.mu.Unlock() })
	defer timer.Stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		if at, ok := r.at[sid]; ok {
			return at, true
		}
		if time.Now().After(deadline) {
			return time.Time{}, false
		}
		r.cond.Wait()
	}
}

// sessionOf returns the session a logout token (sid) or a session-revoked SET
// (sub_id.session.id) names.
func sessionOf(jws string) string {
	parts := strings.Split(jws, ".")
	if len(parts) != 3 {
		return ""
	}
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c struct {
		SID   string `json:"sid"`
		SubID struct {
			Session struct {
				ID string `json:"id"`
			} `json:"session"`
		} `json:"sub_id"`
	}
	_ = json.Unmarshal(b, &c)
	if c.SID != "" {
		return c.SID
	}
	return c.SubID.Session.ID
}

// held keeps the hanging listener's connections open (and reachable) until exit.
var held = struct {
	sync.Mutex
	conns []net.Conn
}{}

// hangingListener accepts connections and never answers.
func hangingListener() string {
	ln := listen()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held.Lock()
			held.conns = append(held.conns, c)
			held.Unlock()
		}
	}()
	return "http://" + ln.Addr().String()
}

func listen() net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatal(err)
	}
	return ln
}

func freePort() string {
	ln := listen()
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func waitReady(issuer string) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(issuer + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	fatal("delivery: weft did not become ready")
}

func token(issuer, id, secret, scope string) string {
	req, _ := http.NewRequest(http.MethodPost, issuer+"/oauth2/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	var out struct {
		AccessToken string `json:"access_token"`
	}
	do(req, http.StatusOK, &out)
	return out.AccessToken
}

func call(issuer, method, path, bearer, body string, want int, out any) {
	req, _ := http.NewRequest(method, issuer+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+bearer)
	do(req, want, out)
}

func do(req *http.Request, want int, out any) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		fatalf("%s %s: %d, want %d: %s", req.Method, req.URL.Path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			fatalf("%s %s: %v", req.Method, req.URL.Path, err)
		}
	}
}

var (
	csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	nextField = regexp.MustCompile(`name="next" value="([^"]+)"`)
	unescape  = strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">")
)

// signIn signs alice in to bench-rp in a fresh browser (authorization code + PKCE,
// through the login and consent pages) and returns the session id of her ID token.
func signIn(issuer string) string {
	jar, _ := cookiejar.New(nil)
	b := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), issuer) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	verifier := random()
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {"bench-rp"}, "redirect_uri": {callback}, "scope": {"openid"},
		"state": {random()}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	resp, err := b.Get(issuer + "/oauth2/auth?" + q.Encode())
	for range 4 {
		if err != nil {
			fatal(err)
		}
		if resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusSeeOther {
			break
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		csrf, next := csrfField.FindSubmatch(body), nextField.FindSubmatch(body)
		if resp.StatusCode != http.StatusOK || csrf == nil || next == nil {
			fatalf("sign-in page %s: %d", resp.Request.URL.Path, resp.StatusCode)
		}
		form := url.Values{"csrf_token": {string(csrf[1])}, "next": {unescape.Replace(string(next[1]))}}
		switch resp.Request.URL.Path {
		case "/login":
			form.Set("username", "alice")
			form.Set("password", "alice-demo-password-1")
		case "/consent":
			form.Set("decision", "allow")
		}
		resp, err = b.PostForm(issuer+resp.Request.URL.Path, form)
	}
	loc, err := resp.Location()
	resp.Body.Close()
	if err != nil || loc.Query().Get("code") == "" {
		fatalf("sign-in: no code in %v", loc)
	}
	req, _ := http.NewRequest(http.MethodPost, issuer+"/oauth2/token", bytes.NewBufferString(url.Values{
		"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {callback},
		"code_verifier": {verifier}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("bench-rp", "bench-rp-secret-123")
	var tok struct {
		IDToken string `json:"id_token"`
	}
	do(req, http.StatusOK, &tok)
	sid := sessionOf(tok.IDToken)
	if sid == "" {
		fatal("sign-in: the ID token names no session")
	}
	return sid
}

func random() string {
	b := make([]byte, 32) // 43 characters: the shortest PKCE verifier
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
