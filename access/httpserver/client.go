package httpserver

import (
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/weft-fabric/weft/identity"
)

// RequestInfo is what a request tells about its client. The IP is the first
// risk signal (rate limits, audit, sessions), so every handler takes it from
// ClientInfo rather than reading RemoteAddr or headers itself.
type RequestInfo struct {
	// IP is the client address in canonical form (IPv4-mapped IPv6 unmapped,
	// no zone): the TCP peer, or what trusted proxies say the client was.
	// It is "" only when the peer address itself cannot be parsed.
	IP string
	// UserAgent is the User-Agent header, trimmed, valid UTF-8, at most 512 bytes.
	UserAgent string
	// DeviceID is the browser's device cookie if it is well-formed, else "".
	// It identifies a browser profile, not a person, and proves nothing.
	DeviceID string
}

// maxUserAgent bounds what a client can make us store and log per session.
const maxUserAgent = 512

// ClientInfo derives the client of c's request. deviceCookie is the device
// cookie's full name (access.Cookies.DeviceCookieName): a parameter rather than
// a constant here because the name carries the __Host- prefix exactly when the
// cookies are Secure, and that decision belongs to access.Cookies alone. Pass ""
// where no browser is expected (the token endpoint).
//
// The IP comes from the echo's IPExtractor, which New sets from
// Options.TrustedProxies, so access logs and handlers agree. On an echo not
// built by New it is the TCP peer: echo's own fallback believes any
// X-Forwarded-For.
func ClientInfo(c echo.Context, deviceCookie string) RequestInfo {
	r := c.Request()
	info := RequestInfo{UserAgent: userAgent(r.UserAgent())}
	if e := c.Echo(); e != nil && e.IPExtractor != nil {
		info.IP = e.IPExtractor(r)
	} else {
		info.IP = peerIP(r)
	}
	if deviceCookie != "" {
		if ck, err := r.Cookie(deviceCookie); err == nil && identity.ValidDeviceID(ck.Value) {
			info.DeviceID = ck.Value
		}
	}
	return info
}

// userAgent trims ua, replaces invalid UTF-8 and caps it at maxUserAgent bytes
// without splitting a character.
func userAgent(ua string) string {
	ua = strings.ToValidUTF8(strings.TrimSpace(ua), "\uFFFD")
	if len(ua) <= maxUserAgent {
		return ua
	}
	cut := maxUserAgent
	for cut > 0 && !utf8.RuneStart(ua[cut]) {
		cut--
	}
	return strings.TrimSpace(ua[:cut])
}

// ipExtractor returns the client IP of a request given the reverse proxies
// whose forwarding headers we believe. It is not echo.TrustIPRange: that trusts
// loopback, link-local and private ranges by default, so any host on the
// internal network could claim any client IP.
//
// If the TCP peer is not a trusted proxy, the client is the peer, whatever the
// headers say: anyone can send X-Forwarded-For. If it is, the client is found
// by walking the forwarding list from the right (each proxy appends the address
// it received the request from, so entries to the right were written by proxies
// nearer to us) past entries that are themselves trusted proxies; the first
// untrusted one is the client. Everything to its left was written by the
// client, or by proxies we know nothing about, and is never read. If every
// entry is a trusted proxy, the request came from one of them and the leftmost
// entry is the client.
//
// The list is RFC 7239 Forwarded (for=) or X-Forwarded-For. A proxy that sets
// only one of them passes the other through as the client sent it, so when both
// are present they must name the same client. An entry we must read that is not
// an IP address (malformed, "unknown", an obfuscated name) means we cannot tell
// who the client is; the answer is then the peer, never a guess from the header.
// A client can thus make itself look like its proxy, but never like anyone else.
func ipExtractor(trusted []netip.Prefix) echo.IPExtractor {
	trusted = slices.Clone(trusted)
	isTrusted := func(a netip.Addr) bool {
		return slices.ContainsFunc(trusted, func(p netip.Prefix) bool { return p.Contains(a) })
	}
	return func(r *http.Request) string {
		peer, ok := parsePeer(r.RemoteAddr)
		if !ok {
			return ""
		}
		if !isTrusted(peer) {
			return peer.String()
		}
		fwd, fwdRes := walkForwarded(r.Header.Values("Forwarded"), isTrusted)
		xff, xffRes := walkXFF(r.Header.Values("X-Forwarded-For"), isTrusted)
		switch {
		case fwdRes == bad || xffRes == bad:
			return peer.String()
		case fwdRes == found && xffRes == found:
			if fwd != xff {
				return peer.String()
			}
			return fwd.String()
		case fwdRes == found:
			return fwd.String()
		case xffRes == found:
			return xff.String()
		}
		return peer.String()
	}
}

// peerIP is the TCP peer, as ipExtractor sees it with no trusted proxies.
func peerIP(r *http.Request) string {
	if a, ok := parsePeer(r.RemoteAddr); ok {
		return a.String()
	}
	return ""
}

// parsePeer parses a RemoteAddr ("192.0.2.1:1234", "[2001:db8::1]:1234").
func parsePeer(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return canonical(ap.Addr()), true
	}
	if a, err := netip.ParseAddr(s); err == nil { // a RemoteAddr without a port
		return canonical(a), true
	}
	return netip.Addr{}, false
}

// canonical unmaps ::ffff:a.b.c.d (a dual-stack listener's view of an IPv4
// peer), so that IPv4 prefixes match it, and drops the zone, which Prefix.Contains
// refuses and which means nothing beyond this host.
func canonical(a netip.Addr) netip.Addr {
	return a.Unmap().WithZone("")
}

// walk is the outcome of reading a forwarding header.
type walk int

const (
	absent walk = iota // no header, nothing to read
	found              // a client address
	bad                // an entry that had to be read is not an address
)

// pick walks nodes (leftmost first; the zero Addr for an entry that is not an
// address) from the right, as described at ipExtractor.
func pick(nodes []netip.Addr, isTrusted func(netip.Addr) bool) (netip.Addr, walk) {
	if len(nodes) == 0 {
		return netip.Addr{}, absent
	}
	for i := len(nodes) - 1; i >= 0; i-- {
		if !nodes[i].IsValid() {
			return netip.Addr{}, bad
		}
		if !isTrusted(nodes[i]) {
			return nodes[i], found
		}
	}
	return nodes[0], found
}

// walkXFF reads X-Forwarded-For: comma-separated addresses, optionally with a
// port, over any number of header lines.
func walkXFF(values []string, isTrusted func(netip.Addr) bool) (netip.Addr, walk) {
	var nodes []netip.Addr
	for _, v := range values {
		for entry := range strings.SplitSeq(v, ",") {
			nodes = append(nodes, parseXFFEntry(strings.TrimSpace(entry)))
		}
	}
	return pick(nodes, isTrusted)
}

// parseXFFEntry parses "192.0.2.1", "2001:db8::1", "[2001:db8::1]", or either
// with a port, which some proxies append. It returns the zero Addr otherwise.
func parseXFFEntry(s string) netip.Addr {
	if a, err := netip.ParseAddr(s); err == nil {
		return canonical(a)
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return canonical(ap.Addr())
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Is6() {
			return canonical(a)
		}
	}
	return netip.Addr{}
}

// walkForwarded reads RFC 7239 Forwarded header lines. A header that does not
// parse as a whole is bad: where one element ends is unknowable then.
func walkForwarded(values []string, isTrusted func(netip.Addr) bool) (netip.Addr, walk) {
	if len(values) == 0 {
		return netip.Addr{}, absent
	}
	var nodes []netip.Addr
	for _, v := range values {
		fors, ok := parseForwarded(v)
		if !ok {
			return netip.Addr{}, bad
		}
		for _, f := range fors {
			nodes = append(nodes, parseForwardedNode(f))
		}
	}
	return pick(nodes, isTrusted)
}

// parseForwarded splits one Forwarded header value into the for= value of each
// element (RFC 7239 section 4), unquoted. An element without for= gives "",
// which is not an address. It reports false if the value breaks the grammar:
//
//	Forwarded         = 1#forwarded-element
//	forwarded-element = [ forwarded-pair ] *( ";" [ forwarded-pair ] )
//	forwarded-pair    = token "=" value
//	value             = token / quoted-string
func parseForwarded(s string) ([]string, bool) {
	var (
		fors    []string
		cur     string
		hasFor  bool
		i       int
		element = func() { fors = append(fors, cur); cur, hasFor = "", false }
	)
	for {
		i = skipOWS(s, i)
		if i < len(s) && s[i] != ',' && s[i] != ';' { // a pair
			start := i
			for i < len(s) && isTokenChar(s[i]) {
				i++
			}
			name := s[start:i]
			if name == "" || i >= len(s) || s[i] != '=' {
				return nil, false
			}
			i++
			var value string
			if i < len(s) && s[i] == '"' {
				var ok bool
				if value, i, ok = quotedString(s, i); !ok {
					return nil, false
				}
			} else {
				start := i
				for i < len(s) && isTokenChar(s[i]) {
					i++
				}
				if value = s[start:i]; value == "" {
					return nil, false
				}
			}
			if strings.EqualFold(name, "for") {
				if hasFor { // "MUST NOT occur more than once" per element
					return nil, false
				}
				cur, hasFor = value, true
			}
			i = skipOWS(s, i)
		}
		switch {
		case i >= len(s):
			element()
			return fors, true
		case s[i] == ';':
			i++
		case s[i] == ',':
			element()
			i++
		default:
			return nil, false
		}
	}
}

// quotedString reads the quoted-string starting at s[i] == '"' and returns its
// unescaped value and the index after the closing quote.
func quotedString(s string, i int) (string, int, bool) {
	var b strings.Builder
	for i++; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return b.String(), i + 1, true
		case c == '\\':
			if i++; i >= len(s) {
				return "", 0, false
			}
			b.WriteByte(s[i])
		case c < 0x20 && c != '\t' || c == 0x7f:
			return "", 0, false
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, false // unterminated
}

func skipOWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// isTokenChar is RFC 9110's tchar.
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// parseForwardedNode parses an RFC 7239 node that is an address: "192.0.2.1",
// "192.0.2.1:8080", "[2001:db8::1]" or "[2001:db8::1]:8080" (the port may be
// obfuscated, "_abc"). "unknown", obfuscated names and anything else give the
// zero Addr.
func parseForwardedNode(s string) netip.Addr {
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}
		}
		host, port = s[1:end], s[end+1:]
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || a.Zone() != "" || !validNodePort(port) {
			return netip.Addr{}
		}
		return canonical(a)
	}
	if i := strings.IndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i:]
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Is4() || !validNodePort(port) {
		return netip.Addr{} // an unbracketed IPv6 address is malformed too
	}
	return a
}

// validNodePort accepts "", ":" 1*5DIGIT or ":" obfport ("_" 1*(ALPHA/DIGIT/"."/"_"/"-")).
func validNodePort(p string) bool {
	if p == "" {
		return true
	}
	if p[0] != ':' || len(p) < 2 {
		return false
	}
	p = p[1:]
	if p[0] == '_' {
		for i := 1; i < len(p); i++ {
			if c := p[i]; !(isAlnum(c) || c == '.' || c == '_' || c == '-') {
				return false
			}
		}
		return len(p) > 1
	}
	if len(p) > 5 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
