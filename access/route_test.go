package access_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/identity"
)

func TestNormalizeHost(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "app.example.com", want: "app.example.com"},
		{in: "App.Example.COM.", want: "app.example.com"},
		{in: "localhost", want: "localhost"},
		{in: "xn--bcher-kva.example", want: "xn--bcher-kva.example"},
		{in: "127.0.0.1", want: "127.0.0.1"},
		{in: "::1", want: "::1"},
		{in: "[2001:DB8::1]", want: "2001:db8::1"},
		{in: "::ffff:192.0.2.1", want: "192.0.2.1"},
		{in: "", err: "must not be empty"},
		{in: "app.example.com:8443", err: "must not include a port"},
		{in: "127.0.0.1:80", err: "must not include a port"},
		{in: "https://app.example.com", err: "without a scheme"},
		{in: "app.example.com/x", err: "without a path"},
		{in: "*.example.com", err: "wildcards are not supported"},
		{in: "user@app.example.com", err: "user information"},
		{in: "bücher.example", err: "xn-- form"},
		{in: "app_1.example.com", err: "only letters, digits"},
		{in: "-app.example.com", err: "must not start or end with '-'"},
		{in: "app..example.com", err: "1 to 63 characters"},
		{in: strings.Repeat("a", 64) + ".example", err: "1 to 63 characters"},
		{in: "[fe80::1%eth0]", err: "not a valid IPv6 address"},
		{in: "fe80::1%eth0", err: "IPv6 zone"},
		{in: "app example.com", err: "only letters, digits"},
	} {
		got, err := access.NormalizeHost(tc.in)
		if tc.err != "" {
			var ve *identity.ValidationError
			if !errors.As(err, &ve) || ve.Field != "host" || !strings.Contains(ve.Reason, tc.err) {
				t.Errorf("NormalizeHost(%q) = %q, %v; want an error saying %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizeHost(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestNormalizePathPrefix(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "/", want: "/"},
		{in: "/app", want: "/app"},
		{in: "/app/", want: "/app"},
		{in: "/app/api/v1", want: "/app/api/v1"},
		{in: "app", err: "must start with '/'"},
		{in: "", err: "must start with '/'"},
		{in: "/app?x=1", err: "without a query"},
		{in: "/app#top", err: "without a query or fragment"},
		{in: "/app%2Fx", err: "decoded"},
		{in: "/app x", err: "spaces"},
		{in: "/app\\x", err: "backslashes"},
		{in: "/app\n", err: "control characters"},
		{in: "/app//x", err: "segments"},
		{in: "/app/../admin", err: "segments"},
		{in: "/./app", err: "segments"},
		{in: "//", err: "segments"},
		{in: "/" + strings.Repeat("a", 1024), err: "at most 1024 bytes"},
	} {
		got, err := access.NormalizePathPrefix(tc.in)
		if tc.err != "" {
			var ve *identity.ValidationError
			if !errors.As(err, &ve) || ve.Field != "path_prefix" || !strings.Contains(ve.Reason, tc.err) {
				t.Errorf("NormalizePathPrefix(%q) = %q, %v; want an error saying %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizePathPrefix(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestPathHasPrefix(t *testing.T) {
	for _, tc := range []struct {
		path, prefix string
		want         bool
	}{
		{"/", "/", true},
		{"/anything", "/", true},
		{"/app", "/app", true},
		{"/app/", "/app", true},
		{"/app/x/y", "/app", true},
		{"/apple", "/app", false},
		{"/ap", "/app", false},
		{"/other/app", "/app", false},
	} {
		if got := access.PathHasPrefix(tc.path, tc.prefix); got != tc.want {
			t.Errorf("PathHasPrefix(%q, %q) = %v, want %v", tc.path, tc.prefix, got, tc.want)
		}
	}
}

func TestCheckRouteSpecs(t *testing.T) {
	rs, err := access.CheckRouteSpecs([]access.RouteSpec{{Host: "b.example", PathPrefix: "/"}, {Host: "A.example", PathPrefix: "/x/"}})
	if err != nil || len(rs) != 2 || rs[0].Host != "a.example" || rs[0].PathPrefix != "/x" || rs[1].Host != "b.example" {
		t.Fatalf("CheckRouteSpecs = %+v, %v", rs, err)
	}
	_, err = access.CheckRouteSpecs([]access.RouteSpec{{Host: "a.example", PathPrefix: "/x"}, {Host: "A.EXAMPLE", PathPrefix: "/x/"}})
	var ve *identity.ValidationError
	if !errors.As(err, &ve) || ve.Field != "routes[1]" || !strings.Contains(ve.Reason, "same route as routes[0]") {
		t.Fatalf("duplicate: %v", err)
	}
	_, err = access.CheckRouteSpecs([]access.RouteSpec{{Host: "a.example", PathPrefix: "/"}, {Host: "a.example", PathPrefix: "x"}})
	if !errors.As(err, &ve) || ve.Field != "routes[1].path_prefix" {
		t.Fatalf("bad prefix: %v", err)
	}
}
