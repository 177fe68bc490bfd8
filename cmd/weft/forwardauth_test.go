package main

import (
	"context"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// proxyBinary finds one of Debian's proxies (nginx, caddy); without it the proxy tests
// skip (or fail under WEFT_TEST_REQUIRE_SERVICES=1, as in CI, which installs them).
func proxyBinary(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := "/usr/sbin/" + name; fileExists(p) {
		return p
	}
	if sqltest.ServicesRequired() {
		t.Fatalf("%s is required (WEFT_TEST_REQUIRE_SERVICES=1) but not installed: apt-get install %s", name, name)
	}
	t.Skipf("skipping: %s not installed (apt-get install %s)", name, name)
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// identityHeaders are what forward-auth adds and the upstream echoes.
var identityHeaders = []string{"X-Weft-Subject", "X-Weft-User", "X-Weft-Email", "X-Weft-Groups", "X-Weft-Risk"}

// echoUpstream is the application behind the proxy: it shows the request it got and
// the identity headers, and counts the requests that reached it.
func echoUpstream(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		var b strings.Builder
		fmt.Fprintf(&b, "uri=%s\n", r.URL.RequestURI())
		for _, h := range identityHeaders {
			fmt.Fprintf(&b, "%s=%s\n", h, strings.Join(r.Header.Values(h), "|"))
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>app</title><pre id=\"echo\">%s</pre>", html.EscapeString(b.String()))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// proxy is a real proxy in front of the upstream, asking Weft first.
type proxy struct {
	name  string
	start func(t *testing.T, dir, listen, weft, upstream string) *exec.Cmd
}

var proxies = []proxy{
	{"nginx", startNginx},
	{"caddy", startCaddy},
}

// startNginx runs nginx with auth_request: the subrequest carries the original URL and
// method, a 401 with a login URL becomes a redirect to it, and the identity headers of
// the answer are set on the request to the upstream (replacing any the client sent).
func startNginx(t *testing.T, dir, listen, weft, upstream string) *exec.Cmd {
	conf := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path %[1]s/client_body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  server {
    listen %[2]s;
    location = /_weft_authz {
      internal;
      proxy_pass http://%[3]s/gateway/authz;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
    location / {
      auth_request /_weft_authz;
      auth_request_set $weft_subject $upstream_http_x_weft_subject;
      auth_request_set $weft_user $upstream_http_x_weft_user;
      auth_request_set $weft_email $upstream_http_x_weft_email;
      auth_request_set $weft_groups $upstream_http_x_weft_groups;
      auth_request_set $weft_risk $upstream_http_x_weft_risk;
      auth_request_set $weft_login $upstream_http_x_weft_login;
      proxy_set_header X-Weft-Subject $weft_subject;
      proxy_set_header X-Weft-User $weft_user;
      proxy_set_header X-Weft-Email $weft_email;
      proxy_set_header X-Weft-Groups $weft_groups;
      proxy_set_header X-Weft-Risk $weft_risk;
      error_page 401 = @weft_login;
      proxy_pass http://%[4]s;
    }
    location @weft_login {
      if ($weft_login = "") { return 401; }
      return 302 $weft_login;
    }
  }
}
`, dir, listen, weft, upstream)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return exec.Command(proxyBinary(t, "nginx"), "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", path)
}

// startCaddy runs Caddy with forward_auth: the identity headers of a 2xx are copied to
// the request, a 401 with a login URL becomes a redirect, any other answer goes to the
// client as Weft gave it.
func startCaddy(t *testing.T, dir, listen, weft, upstream string) *exec.Cmd {
	conf := fmt.Sprintf(`{
	admin off
	auto_https off
	grace_period 100ms
	storage file_system %[1]s/data
}

http://%[2]s {
	forward_auth %[3]s {
		uri /gateway/authz
		copy_headers X-Weft-Subject X-Weft-User X-Weft-Email X-Weft-Groups X-Weft-Risk
		@login {
			status 401
			header X-Weft-Login *
		}
		handle_response @login {
			redir {rp.header.X-Weft-Login} 302
		}
	}
	reverse_proxy %[4]s
}
`, dir, listen, weft, upstream)
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(proxyBinary(t, "caddy"), "run", "--config", path, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	return cmd
}

// runProxy starts cmd and waits until listen accepts connections.
func runProxy(t *testing.T, name string, cmd *exec.Cmd, listen string) {
	t.Helper()
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, tail(logs.String(), 4000))
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", listen, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("%s exited at start:\n%s", name, logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not listening on %s:\n%s", name, listen, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// forwardAuthFabric declares the application behind the proxies: /app on 127.0.0.1
// (any port, so every proxy's). Nothing leads /private anywhere.
const forwardAuthFabric = `
applications:
  - id: fa-app
    name: Forward-auth test application
    routes:
      - host: 127.0.0.1
        path_prefix: /app
`

// TestForwardAuth_RealProxies puts Debian's nginx (auth_request) and Caddy
// (forward_auth) in front of an application and Weft behind them: an allowed request
// reaches the application with the identity headers (and none a client forged), a
// revoked token gets 401, a request no route covers 403, and a browser without a
// session is sent through Weft's login page and back to the page it asked for.
func TestForwardAuth_RealProxies(t *testing.T) {
	if testing.Short() {
		t.Skip("starts proxies and a browser; skipped with -short")
	}
	for _, p := range []string{"nginx", "caddy"} {
		proxyBinary(t, p)
	}
	exe := chromium(t)
	up, hits := echoUpstream(t)
	o := newOIDCEnvWith(t, sqltest.SQLite, forwardAuthFabric, "WEFT_TRUSTED_PROXIES=127.0.0.1")
	weft := strings.TrimPrefix(o.issuer, "http://")
	upstream := strings.TrimPrefix(up.URL, "http://")
	alice := o.cli.userID(t, "alice")

	profile, err := os.MkdirTemp("", "weft-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(profile)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.UserDataDir(profile))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	if err := chromedp.Run(bctx); err != nil { // start the browser once for both proxies
		t.Fatalf("browser: %v", err)
	}

	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	call := func(u, token string, header ...string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := noRedirects.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp, readAll(t, resp)
	}

	// Only trusted proxies are answered: the same question from 127.0.0.2 is refused.
	from2 := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext}}
	req, _ := http.NewRequest(http.MethodGet, o.issuer+"/gateway/authz", nil)
	req.Header.Set("X-Forwarded-Uri", "/app/data")
	req.Header.Set("X-Forwarded-Host", "127.0.0.1")
	resp, err := from2.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != 403 || resp.Header.Get("X-Weft-Reason") != "untrusted_proxy" {
		t.Fatalf("from an untrusted peer: %d %s", resp.StatusCode, body)
	}

	for _, p := range proxies {
		t.Run(p.name, func(t *testing.T) {
			listen := closedPort(t)
			base := "http://" + listen
			runProxy(t, p.name, p.start(t, t.TempDir(), listen, weft, upstream), listen)
			token := o.aliceToken()

			// Allowed: the application sees the original request and who made it; a
			// header the client forged is replaced.
			resp, body := call(base+"/app/data?q=1", token, "X-Weft-User", "mallory", "Accept", "text/html")
			want := []string{"uri=/app/data?q=1", "X-Weft-Subject=" + alice, "X-Weft-User=alice", "X-Weft-Email=alice@example.com",
				"X-Weft-Groups=engineering", "X-Weft-Risk=score=0, level=none"}
			if resp.StatusCode != 200 || strings.Contains(body, "mallory") || !containsAll(html.UnescapeString(body), want) {
				t.Fatalf("allowed request: %d\n%s\nwant %q", resp.StatusCode, body, want)
			}

			// No route leads /private anywhere: 403, and the application never sees it.
			before := hits.Load()
			if resp, body := call(base+"/private/x", token); resp.StatusCode != 403 || hits.Load() != before {
				t.Fatalf("unrouted request: %d (upstream hits %d -> %d)\n%s", resp.StatusCode, before, hits.Load(), body)
			}
			// An API client without credentials gets 401, not a redirect.
			if resp, body := call(base+"/app/data", "", "Accept", "application/json"); resp.StatusCode != 401 || resp.Header.Get("Location") != "" {
				t.Fatalf("no credentials: %d %v\n%s", resp.StatusCode, resp.Header, body)
			}
			// Revoked (RFC 7009): 401 at once, no redirect for a token holder.
			o.revokeToken(token)
			if resp, body := call(base+"/app/data", token, "Accept", "text/html"); resp.StatusCode != 401 || resp.Header.Get("Location") != "" ||
				hits.Load() != before {
				t.Fatalf("revoked token: %d %v\n%s", resp.StatusCode, resp.Header, body)
			}

			// A browser without a session: to Weft's login page, and back to the page.
			// A new tab without the cookies of the proxy before (the same host, 127.0.0.1).
			ctx, cancel := chromedp.NewContext(bctx)
			defer cancel()
			ctx, cancelT := context.WithTimeout(ctx, 30*time.Second)
			defer cancelT()
			page := base + "/app/page?x=1&y=two"
			var loginAt, landed, echoed string
			err := chromedp.Run(ctx,
				network.ClearBrowserCookies(),
				chromedp.Navigate(page),
				chromedp.WaitVisible(`#username`),
				chromedp.Location(&loginAt),
				chromedp.SendKeys(`#username`, "alice"),
				chromedp.SendKeys(`#password`, "alice-demo-password-1"),
				chromedp.Click(`button[type="submit"]`),
				chromedp.WaitVisible(`#echo`),
				chromedp.Location(&landed),
				chromedp.Text(`#echo`, &echoed),
			)
			if err != nil {
				t.Fatalf("browser: %v", err)
			}
			if !strings.HasPrefix(loginAt, o.issuer+"/login?") {
				t.Fatalf("the browser was not sent to Weft's login page but to %s", loginAt)
			}
			if landed != page || !containsAll(echoed, []string{"uri=/app/page?x=1&y=two", "X-Weft-User=alice", "X-Weft-Subject=" + alice}) {
				t.Fatalf("after login the browser is at %s showing\n%s", landed, echoed)
			}
		})
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// aliceToken signs alice in with the demo web client and returns an access token.
func (o *oidcEnv) aliceToken() string {
	o.t.Helper()
	v := oauth2.GenerateVerifier()
	cb := o.login(o.browser(), o.web.AuthCodeURL(randomString(), oauth2.S256ChallengeOption(v)), "alice", "alice-demo-password-1")
	tok, err := o.web.Exchange(context.Background(), cb.Query().Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		o.t.Fatal(err)
	}
	return tok.AccessToken
}

// revokeToken revokes an access token of demo-web (RFC 7009).
func (o *oidcEnv) revokeToken(token string) {
	o.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, o.issuer+"/oauth2/revoke", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(o.web.ClientID, o.web.ClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		o.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		o.t.Fatalf("revoke = %d", resp.StatusCode)
	}
}

// TestForwardAuth_RoutesAcrossNodes: an application and its route created through node
// 1's admin API are in node 2's route table within a second (the fan-out bus carries the
// reload; nothing waits for node 2's periodic refresh), and so is their deletion.
func TestForwardAuth_RoutesAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two weft processes")
	}
	f := newFabric(t, "WEFT_TRUSTED_PROXIES=127.0.0.1")
	n1 := startNode(t, f.bin, f.env, "node-1", f.addr1, "")
	n2 := startNode(t, f.bin, f.env, "node-2", closedPort(t), "")
	n1.waitReady(t)
	n2.waitReady(t)
	o1 := &oidcEnv{t: t, issuer: n1.base}
	admin := o1.mustToken("demo-admin", "demo-admin-secret", "weft:admin")
	// What node 2's forward-auth says about https://crm.example.com/crm/x, asked by a
	// proxy without credentials: 403 while no route leads there, 401 once one does.
	reason := func() string {
		req, _ := http.NewRequest(http.MethodGet, n2.base+"/gateway/authz", nil)
		req.Header.Set("X-Forwarded-Host", "crm.example.com")
		req.Header.Set("X-Forwarded-Uri", "/crm/x")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		return resp.Header.Get("X-Weft-Reason")
	}
	within := func(what, want string) {
		t.Helper()
		start := time.Now()
		for reason() != want {
			if time.Since(start) > time.Second {
				t.Fatalf("node 2 still answers %q a second after %s; want %q", reason(), what, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if got := reason(); got != "route_unknown" {
		t.Fatalf("before: %q", got)
	}
	if code, out := o1.bearerPost(admin, "/api/v1/applications",
		`{"id":"crm","name":"CRM","routes":[{"host":"crm.example.com","path_prefix":"/crm"}]}`); code != http.StatusCreated {
		t.Fatalf("create on node 1: %d %v", code, out)
	}
	within("the route was created on node 1", "no_credentials")
	req, _ := http.NewRequest(http.MethodDelete, n1.base+"/api/v1/applications/crm", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete on node 1: %v %v", resp, err)
	}
	resp.Body.Close()
	within("the application was deleted on node 1", "route_unknown")
}
