package gateway

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Each proxy's way of telling the original request, read only as that proxy sends it.
func TestReadOriginal(t *testing.T) {
	type want struct {
		conv                    Convention
		method, url, host, path string
	}
	for _, tc := range []struct {
		name    string
		method  string // of the request to forward-auth
		target  string // its path
		host    string // its Host
		headers map[string]string
		want    want
		err     string // substring; errConflicting / errNoOriginal by text
	}{
		{name: "caddy forward_auth", target: PathAuthz, host: "weft.internal:8080", headers: map[string]string{
			"X-Forwarded-Method": "GET", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "App.Example.com:8443", "X-Forwarded-Uri": "/wiki/page?x=1"},
			want: want{Forwarded, "GET", "http://App.Example.com:8443/wiki/page?x=1", "app.example.com", "/wiki/page"}},
		{name: "traefik without X-Forwarded-Host takes Host", target: PathAuthz, host: "app.example.com", headers: map[string]string{
			"X-Forwarded-Method": "POST", "X-Forwarded-Proto": "https", "X-Forwarded-Uri": "/api/v1/items"},
			want: want{Forwarded, "POST", "https://app.example.com/api/v1/items", "app.example.com", "/api/v1/items"}},
		{name: "forwarded without proto is https", target: PathAuthz, host: "app.example.com", headers: map[string]string{
			"X-Forwarded-Uri": "/"},
			want: want{Forwarded, "GET", "https://app.example.com/", "app.example.com", "/"}},
		{name: "nginx auth_request", target: PathAuthz, host: "127.0.0.1:9000", headers: map[string]string{
			"X-Original-URL": "https://App.Example.com/payroll/x?y=1", "X-Original-Method": "DELETE"},
			want: want{Original, "DELETE", "https://App.Example.com/payroll/x?y=1", "app.example.com", "/payroll/x"}},
		{name: "nginx without X-Original-Method", method: http.MethodHead, target: PathAuthz, host: "127.0.0.1:9000", headers: map[string]string{
			"X-Original-URL": "http://[2001:db8::1]:8080/wiki"},
			want: want{Original, "HEAD", "http://[2001:db8::1]:8080/wiki", "2001:db8::1", "/wiki"}},
		{name: "envoy ext_authz appends the path", method: http.MethodPut, target: PathAuthz + "/wiki/page?q=1", host: "App.Example.com.",
			headers: map[string]string{"X-Forwarded-Proto": "https"},
			want:    want{Envoy, "PUT", "https://App.Example.com./wiki/page?q=1", "app.example.com", "/wiki/page"}},
		{name: "envoy keeps the encoding for the way back", target: PathAuthz + "/wiki/a%20b", host: "app.example.com",
			want: want{Envoy, "GET", "https://app.example.com/wiki/a%20b", "app.example.com", "/wiki/a b"}},
		{name: "dot segments resolve", target: PathAuthz, host: "h", headers: map[string]string{"X-Forwarded-Uri": "/wiki/../payroll"},
			want: want{Forwarded, "GET", "https://h/wiki/../payroll", "h", "/payroll"}},
		{name: "encoded dot segments resolve", target: PathAuthz, host: "h", headers: map[string]string{"X-Forwarded-Uri": "/wiki/%2e%2e/payroll"},
			want: want{Forwarded, "GET", "https://h/wiki/%2e%2e/payroll", "h", "/payroll"}},
		{name: "matrix parameters do not hide dot segments", target: PathAuthz, host: "h", headers: map[string]string{"X-Forwarded-Uri": "/wiki/..;/payroll"},
			want: want{Forwarded, "GET", "https://h/wiki/..;/payroll", "h", "/payroll"}},
		{name: "backslashes count as slashes", target: PathAuthz, host: "h", headers: map[string]string{"X-Forwarded-Uri": `/wiki\..\payroll`},
			want: want{Forwarded, "GET", `https://h/wiki\..\payroll`, "h", "/payroll"}},
		{name: "encoded slashes are decoded", target: PathAuthz, host: "h", headers: map[string]string{"X-Forwarded-Uri": "/wiki%2F..%2Fpayroll"},
			want: want{Forwarded, "GET", "https://h/wiki%2F..%2Fpayroll", "h", "/payroll"}},
		{name: "double slashes collapse", target: PathAuthz, host: "h", headers: map[string]string{"X-Forwarded-Uri": "//payroll//x"},
			want: want{Forwarded, "GET", "https://h//payroll//x", "h", "/payroll/x"}},

		{name: "nothing said", target: PathAuthz, host: "h", err: errNoOriginal.Error()},
		{name: "X-Forwarded-Host alone says nothing", target: PathAuthz, host: "h", headers: map[string]string{"X-Forwarded-Host": "a"}, err: errNoOriginal.Error()},
		{name: "a client's X-Original-URL through Caddy", target: PathAuthz, host: "h", headers: map[string]string{
			"X-Forwarded-Uri": "/payroll", "X-Original-URL": "https://h/wiki"}, err: errConflicting.Error()},
		{name: "a client's X-Forwarded-Uri through Envoy", target: PathAuthz + "/payroll", host: "h", headers: map[string]string{
			"X-Forwarded-Uri": "/wiki"}, err: errConflicting.Error()},
		{name: "relative X-Original-URL", target: PathAuthz, host: "h", headers: map[string]string{"X-Original-URL": "/wiki"}, err: "absolute URL"},
		{name: "X-Original-URL with user information", target: PathAuthz, host: "h", headers: map[string]string{"X-Original-URL": "https://u:p@h/wiki"}, err: "absolute URL"},
		{name: "bad method", target: PathAuthz, host: "h", headers: map[string]string{"X-Forwarded-Uri": "/", "X-Forwarded-Method": "GE T"}, err: "method"},
		{name: "bad scheme", target: PathAuthz, host: "h", headers: map[string]string{"X-Forwarded-Uri": "/", "X-Forwarded-Proto": "ftp"}, err: "scheme"},
		{name: "absolute-form URI", target: PathAuthz, host: "h", headers: map[string]string{"X-Forwarded-Uri": "http://evil.example/"}, err: "starting with '/'"},
		{name: "URI with a space", target: PathAuthz, host: "h", headers: map[string]string{"X-Forwarded-Uri": "/a b"}, err: "starting with '/'"},
		{name: "NUL in the path", target: PathAuthz, host: "h", headers: map[string]string{"X-Forwarded-Uri": "/wiki%00x"}, err: "path is not valid"},
		{name: "bad host", target: PathAuthz, host: "h", headers: map[string]string{"X-Forwarded-Uri": "/", "X-Forwarded-Host": "a b"}, err: "host"},
		{name: "host with a bad port", target: PathAuthz, host: "h", headers: map[string]string{"X-Forwarded-Uri": "/", "X-Forwarded-Host": "a.example:x"}, err: "host"},
		{name: "unbracketed IPv6 host", target: PathAuthz, host: "h", headers: map[string]string{"X-Forwarded-Uri": "/", "X-Forwarded-Host": "::1"}, err: "host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.method
			if m == "" {
				m = http.MethodGet
			}
			r := httptest.NewRequest(m, "http://placeholder"+tc.target, nil)
			r.Host = tc.host
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			o, err := readOriginal(r)
			if tc.err != "" {
				var bad *badOriginal
				if err == nil || !strings.Contains(err.Error(), tc.err) || !(errors.As(err, &bad) || errors.Is(err, errNoOriginal) || errors.Is(err, errConflicting)) {
					t.Fatalf("readOriginal = %+v, %v; want an error with %q", o, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := want{o.Convention, o.Method, o.URL(), o.HostKey, o.Path}
			if got != tc.want {
				t.Fatalf("readOriginal = %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestEncodeHeader(t *testing.T) {
	for _, tc := range []struct{ in, extra, want string }{
		{"alice", "", "alice"},
		{"alice@example.com", "", "alice@example.com"},
		{"Zoë", "", "Zo%C3%AB"},
		{"50%", "", "50%25"},
		{"a,b", ",", "a%2Cb"},
		{"a,b", "", "a,b"},
		{"x\r\nX-Weft-User: root", "", "x%0D%0AX-Weft-User: root"},
		{`say "hi"`, "", "say %22hi%22"},
	} {
		if got := encodeHeader(tc.in, tc.extra); got != tc.want {
			t.Errorf("encodeHeader(%q, %q) = %q, want %q", tc.in, tc.extra, got, tc.want)
		}
	}
	if got := headerSafe("risk high\r\nX: y"); got != "risk_high__X:_y" {
		t.Errorf("headerSafe = %q", got)
	}
}
