package httpserver

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// Documentation ranges only (RFC 5737, RFC 3849): these tests send no traffic.
var testProxies = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("192.0.2.10/32"),
	netip.MustParsePrefix("2001:db8:ffff::/48"),
}

func TestClientIP(t *testing.T) {
	tests := []struct {
		name    string
		trusted []netip.Prefix
		peer    string
		xff     []string // X-Forwarded-For lines
		fwd     []string // Forwarded lines
		want    string
	}{
		{name: "no proxies, spoofed XFF", peer: "198.51.100.1:4000", xff: []string{"203.0.113.9"}, want: "198.51.100.1"},
		{name: "no proxies, spoofed Forwarded", peer: "198.51.100.1:4000", fwd: []string{"for=203.0.113.9"}, want: "198.51.100.1"},
		{name: "untrusted peer, spoofed XFF", trusted: testProxies, peer: "198.51.100.1:4000", xff: []string{"203.0.113.9, 10.0.0.1"}, want: "198.51.100.1"},
		// Private ranges are not trusted unless configured (echo.TrustIPRange trusts them by default).
		{name: "private peer not configured", trusted: testProxies[1:], peer: "10.1.2.3:4000", xff: []string{"203.0.113.9"}, want: "10.1.2.3"},
		{name: "loopback peer not configured", trusted: testProxies, peer: "127.0.0.1:4000", xff: []string{"203.0.113.9"}, want: "127.0.0.1"},
		{name: "trusted peer, no header", trusted: testProxies, peer: "10.0.0.1:4000", want: "10.0.0.1"},
		{name: "trusted peer, one entry", trusted: testProxies, peer: "10.0.0.1:4000", xff: []string{"203.0.113.9"}, want: "203.0.113.9"},
		{name: "trusted peer, chain: rightmost untrusted", trusted: testProxies, peer: "10.0.0.1:4000",
			xff: []string{"6.6.6.6, 203.0.113.9, 10.0.0.2, 192.0.2.10"}, want: "203.0.113.9"},
		{name: "chain over several lines", trusted: testProxies, peer: "10.0.0.1:4000",
			xff: []string{"6.6.6.6, 203.0.113.9", "10.0.0.2"}, want: "203.0.113.9"},
		{name: "all entries trusted: leftmost", trusted: testProxies, peer: "10.0.0.1:4000", xff: []string{"10.0.0.3, 192.0.2.10, 10.0.0.2"}, want: "10.0.0.3"},
		{name: "XFF with ports", trusted: testProxies, peer: "10.0.0.1:4000", xff: []string{"203.0.113.9:5123, [2001:db8::7]:443"}, want: "2001:db8::7"},
		{name: "XFF bracketed IPv6", trusted: testProxies, peer: "10.0.0.1:4000", xff: []string{"[2001:db8::7]"}, want: "2001:db8::7"},
		{name: "XFF IPv4-mapped", trusted: testProxies, peer: "10.0.0.1:4000", xff: []string{"::ffff:203.0.113.9"}, want: "203.0.113.9"},
		{name: "XFF garbage left of the client is never read", trusted: testProxies, peer: "10.0.0.1:4000",
			xff: []string{"not-an-ip, 203.0.113.9"}, want: "203.0.113.9"},
		{name: "malformed XFF entry", trusted: testProxies, peer: "10.0.0.1:4000", xff: []string{"203.0.113.9, garbage"}, want: "10.0.0.1"},
		{name: "empty XFF entry", trusted: testProxies, peer: "10.0.0.1:4000", xff: []string{"203.0.113.9, "}, want: "10.0.0.1"},
		{name: "empty XFF", trusted: testProxies, peer: "10.0.0.1:4000", xff: []string{""}, want: "10.0.0.1"},
		{name: "XFF hostname", trusted: testProxies, peer: "10.0.0.1:4000", xff: []string{"client.example.com"}, want: "10.0.0.1"},
		{name: "XFF CIDR", trusted: testProxies, peer: "10.0.0.1:4000", xff: []string{"203.0.113.0/24"}, want: "10.0.0.1"},

		{name: "Forwarded IPv4", trusted: testProxies, peer: "10.0.0.1:4000", fwd: []string{"for=203.0.113.9;proto=https;by=10.0.0.1"}, want: "203.0.113.9"},
		{name: "Forwarded quoted IPv6 with port", trusted: testProxies, peer: "10.0.0.1:4000",
			fwd: []string{`for="[2001:db8:cafe::17]:4711"`}, want: "2001:db8:cafe::17"},
		{name: "Forwarded quoted IPv6 without port", trusted: testProxies, peer: "10.0.0.1:4000",
			fwd: []string{`For="[2001:db8:cafe::17]"`}, want: "2001:db8:cafe::17"},
		{name: "Forwarded quoted IPv4 with port", trusted: testProxies, peer: "10.0.0.1:4000", fwd: []string{`for="203.0.113.9:8080"`}, want: "203.0.113.9"},
		{name: "Forwarded obfuscated port", trusted: testProxies, peer: "10.0.0.1:4000", fwd: []string{`for="203.0.113.9:_p1"`}, want: "203.0.113.9"},
		{name: "Forwarded chain", trusted: testProxies, peer: "10.0.0.1:4000",
			fwd: []string{`for=6.6.6.6, for="[2001:db8::5]";proto=https, for=192.0.2.10`}, want: "2001:db8::5"},
		{name: "Forwarded chain over lines", trusted: testProxies, peer: "10.0.0.1:4000",
			fwd: []string{`for=6.6.6.6, for=203.0.113.9`, `for="[2001:db8:ffff::1]:80"`}, want: "203.0.113.9"},
		{name: "Forwarded all trusted", trusted: testProxies, peer: "10.0.0.1:4000", fwd: []string{`for=10.0.0.5, for=10.0.0.6`}, want: "10.0.0.5"},
		{name: "Forwarded quoted comma in another pair", trusted: testProxies, peer: "10.0.0.1:4000",
			fwd: []string{`for=203.0.113.9;ext="a,b;c"`}, want: "203.0.113.9"},
		{name: "Forwarded unknown", trusted: testProxies, peer: "10.0.0.1:4000", fwd: []string{`for=unknown`}, want: "10.0.0.1"},
		{name: "Forwarded obfuscated node", trusted: testProxies, peer: "10.0.0.1:4000", fwd: []string{`for=_hidden`}, want: "10.0.0.1"},
		{name: "Forwarded unbracketed IPv6", trusted: testProxies, peer: "10.0.0.1:4000", fwd: []string{`for="2001:db8::5"`}, want: "10.0.0.1"},
		{name: "Forwarded unquoted port", trusted: testProxies, peer: "10.0.0.1:4000", fwd: []string{`for=203.0.113.9:80`}, want: "10.0.0.1"},
		{name: "Forwarded unterminated quote", trusted: testProxies, peer: "10.0.0.1:4000", fwd: []string{`for="[2001:db8::5]`}, want: "10.0.0.1"},
		{name: "Forwarded missing for", trusted: testProxies, peer: "10.0.0.1:4000", fwd: []string{`proto=https`}, want: "10.0.0.1"},
		{name: "Forwarded for twice", trusted: testProxies, peer: "10.0.0.1:4000", fwd: []string{`for=203.0.113.9;for=6.6.6.6`}, want: "10.0.0.1"},
		{name: "Forwarded bad port", trusted: testProxies, peer: "10.0.0.1:4000", fwd: []string{`for="203.0.113.9:http"`}, want: "10.0.0.1"},
		{name: "Forwarded not a pair", trusted: testProxies, peer: "10.0.0.1:4000", fwd: []string{`203.0.113.9`}, want: "10.0.0.1"},

		// A proxy that maintains one header passes the other through from the client.
		{name: "both headers agree", trusted: testProxies, peer: "10.0.0.1:4000",
			xff: []string{"203.0.113.9"}, fwd: []string{"for=203.0.113.9"}, want: "203.0.113.9"},
		{name: "both headers disagree", trusted: testProxies, peer: "10.0.0.1:4000",
			xff: []string{"203.0.113.9"}, fwd: []string{"for=6.6.6.6"}, want: "10.0.0.1"},
		{name: "malformed Forwarded beside a good XFF", trusted: testProxies, peer: "10.0.0.1:4000",
			xff: []string{"203.0.113.9"}, fwd: []string{"for="}, want: "10.0.0.1"},

		{name: "IPv6 peer untrusted", trusted: testProxies, peer: "[2001:db8::1]:4000", xff: []string{"203.0.113.9"}, want: "2001:db8::1"},
		{name: "IPv6 peer trusted", trusted: testProxies, peer: "[2001:db8:ffff::2]:4000", xff: []string{"203.0.113.9"}, want: "203.0.113.9"},
		{name: "IPv6 peer with zone", trusted: testProxies, peer: "[fe80::1%eth0]:4000", want: "fe80::1"},
		{name: "IPv4-mapped peer matches an IPv4 prefix", trusted: testProxies, peer: "[::ffff:10.0.0.1]:4000", xff: []string{"203.0.113.9"}, want: "203.0.113.9"},
		{name: "peer without port", trusted: testProxies, peer: "198.51.100.1", want: "198.51.100.1"},
		{name: "unparsable peer", trusted: testProxies, peer: "@", xff: []string{"203.0.113.9"}, want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.peer
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			for _, v := range tc.fwd {
				r.Header.Add("Forwarded", v)
			}
			if got := ipExtractor(tc.trusted)(r); got != tc.want {
				t.Errorf("client IP = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestClientInfo(t *testing.T) {
	const device = "AAAAAAAAAAAAAAAAAAAAAA" // 16 zero bytes
	long := strings.Repeat("a", 511) + "€"  // the cap (512) falls inside "€" (3 bytes)
	tests := []struct {
		name         string
		ua           string
		deviceCookie string // the cookie name ClientInfo is given
		cookies      []*http.Cookie
		wantUA       string
		wantDevice   string
	}{
		{name: "plain", ua: "Mozilla/5.0 (X11)", wantUA: "Mozilla/5.0 (X11)"},
		{name: "trimmed", ua: "  Mozilla/5.0\t", wantUA: "Mozilla/5.0"},
		{name: "no user agent", ua: "", wantUA: ""},
		{name: "exactly the cap", ua: strings.Repeat("b", 512), wantUA: strings.Repeat("b", 512)},
		{name: "capped", ua: strings.Repeat("b", 2000), wantUA: strings.Repeat("b", 512)},
		{name: "capped on a character boundary", ua: long, wantUA: strings.Repeat("a", 511)},
		{name: "invalid UTF-8", ua: "ab\xffcd", wantUA: "ab\uFFFDcd"},

		{name: "valid device", deviceCookie: "weft_device", cookies: []*http.Cookie{{Name: "weft_device", Value: device}}, wantDevice: device},
		{name: "secure name", deviceCookie: "__Host-weft_device", cookies: []*http.Cookie{{Name: "__Host-weft_device", Value: device}}, wantDevice: device},
		// Under Secure cookies an unprefixed one may have been planted by a sibling host.
		{name: "unprefixed cookie under the secure name", deviceCookie: "__Host-weft_device", cookies: []*http.Cookie{{Name: "weft_device", Value: device}}},
		{name: "no cookie name: token endpoint", deviceCookie: "", cookies: []*http.Cookie{{Name: "weft_device", Value: device}}},
		{name: "no cookie", deviceCookie: "weft_device"},
		{name: "too short", deviceCookie: "weft_device", cookies: []*http.Cookie{{Name: "weft_device", Value: device[1:]}}},
		{name: "too long", deviceCookie: "weft_device", cookies: []*http.Cookie{{Name: "weft_device", Value: device + "A"}}},
		{name: "not base64url", deviceCookie: "weft_device", cookies: []*http.Cookie{{Name: "weft_device", Value: strings.Repeat("+", 22)}}},
		{name: "padded", deviceCookie: "weft_device", cookies: []*http.Cookie{{Name: "weft_device", Value: "AAAAAAAAAAAAAAAAAAAA=="}}},
	}
	e, _ := newTestEcho(t, Options{TrustedProxies: testProxies})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = "10.0.0.1:4000"
			r.Header.Set("X-Forwarded-For", "203.0.113.9")
			r.Header.Set("User-Agent", tc.ua)
			for _, ck := range tc.cookies {
				r.AddCookie(ck)
			}
			got := ClientInfo(e.NewContext(r, httptest.NewRecorder()), tc.deviceCookie)
			want := RequestInfo{IP: "203.0.113.9", UserAgent: tc.wantUA, DeviceID: tc.wantDevice}
			if got != want {
				t.Errorf("ClientInfo = %+v\nwant %+v", got, want)
			}
		})
	}
}

// On an echo not built by New, ClientInfo still ignores the forwarding headers
// (echo's own RealIP believes X-Forwarded-For).
func TestClientInfo_PlainEcho(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "198.51.100.1:4000"
	r.Header.Set("X-Forwarded-For", "203.0.113.9")
	r.Header.Set("X-Real-IP", "203.0.113.10")
	if got := ClientInfo(echo.New().NewContext(r, httptest.NewRecorder()), "").IP; got != "198.51.100.1" {
		t.Fatalf("IP = %q", got)
	}
}

// The access log's remote_ip and ClientInfo agree behind a trusted proxy.
func TestClientIP_AccessLog(t *testing.T) {
	e, logs := newTestEcho(t, Options{TrustedProxies: testProxies})
	var seen string
	e.GET("/who", func(c echo.Context) error {
		seen = ClientInfo(c, "").IP
		return c.NoContent(http.StatusNoContent)
	})
	r := httptest.NewRequest(http.MethodGet, "/who", nil)
	r.RemoteAddr = "10.0.0.1:4000"
	r.Header.Set("Forwarded", `for="[2001:db8::9]:1234"`)
	e.ServeHTTP(httptest.NewRecorder(), r)
	if got := logs.accessLine(t, "/who")["remote_ip"]; seen != "2001:db8::9" || got != seen {
		t.Fatalf("handler saw %q, access log %v", seen, got)
	}
}
