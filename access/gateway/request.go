package gateway

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"
)

// Convention names how a proxy tells the original request.
type Convention string

// The conventions forward-auth reads.
const (
	// Forwarded: X-Forwarded-Method, X-Forwarded-Proto, X-Forwarded-Host and
	// X-Forwarded-Uri (Caddy forward_auth, Traefik ForwardAuth).
	Forwarded Convention = "forwarded"
	// Original: X-Original-URL (the absolute URL) and X-Original-Method (the nginx
	// auth_request convention, also used by ingress-nginx).
	Original Convention = "original"
	// Envoy: the original path is appended to the authorization path and the original
	// method, Host and headers are those of the check request (Envoy's HTTP ext_authz).
	Envoy Convention = "envoy"
)

// original is the request a proxy asks about.
type original struct {
	Convention Convention
	Method     string
	Scheme     string // http or https
	Host       string // as the client sent it, port included: for the way back after login
	HostKey    string // lower-case, no port, no trailing dot: what routes match
	URI        string // the request target as sent (path and query)
	Path       string // decoded and cleaned: what routes match
}

// URL is the original request's URL, where the browser returns after login.
func (o original) URL() string { return o.Scheme + "://" + o.Host + o.URI }

// Limits on what a proxy may tell.
const (
	maxURILen    = 8192
	maxMethodLen = 32
)

// errNoOriginal and the like are 400s: a proxy that is trusted but not configured to
// say which request to decide on.
var (
	errNoOriginal = errors.New("the request does not say which request to authorize: send X-Forwarded-Uri " +
		"(with X-Forwarded-Method, -Proto and -Host), X-Original-URL (with X-Original-Method), " +
		"or append the original path to " + PathAuthz + " (Envoy)")
	errConflicting = errors.New("the request carries more than one convention of original-request headers " +
		"(X-Forwarded-Uri, X-Original-URL, a path after " + PathAuthz + "): a client may have sent one of them; " +
		"configure the proxy to set its own and strip the others")
)

// badOriginal is a 400 with a reason that names the header.
type badOriginal struct{ msg string }

func (e *badOriginal) Error() string { return e.msg }

// readOriginal reads the original request from r, sent by a trusted proxy. Exactly one
// convention must be present: a proxy sets and overwrites its own headers, but passes
// the others through from the client, so a second convention in the same request can
// only be a client's attempt to have another request decided on.
func readOriginal(r *http.Request) (original, error) {
	suffix, hasSuffix := strings.CutPrefix(r.URL.EscapedPath(), PathAuthz+"/")
	present := map[Convention]bool{
		Forwarded: r.Header.Get("X-Forwarded-Uri") != "",
		Original:  r.Header.Get("X-Original-Url") != "",
		Envoy:     hasSuffix,
	}
	n := 0
	for _, p := range present {
		if p {
			n++
		}
	}
	switch {
	case n == 0:
		return original{}, errNoOriginal
	case n > 1:
		return original{}, errConflicting
	}
	var o original
	switch {
	case present[Forwarded]:
		o = original{Convention: Forwarded, Method: r.Header.Get("X-Forwarded-Method"),
			Scheme: r.Header.Get("X-Forwarded-Proto"), Host: r.Header.Get("X-Forwarded-Host"), URI: r.Header.Get("X-Forwarded-Uri")}
		if o.Host == "" {
			o.Host = r.Host // Caddy sends the original Host through
		}
		if o.Scheme == "" {
			o.Scheme = "https"
		}
	case present[Original]:
		u, err := url.Parse(r.Header.Get("X-Original-Url"))
		if err != nil || !u.IsAbs() || u.Host == "" || u.User != nil || u.Opaque != "" {
			return original{}, &badOriginal{"X-Original-URL must be the absolute URL of the original request (nginx: $scheme://$http_host$request_uri)"}
		}
		o = original{Convention: Original, Method: r.Header.Get("X-Original-Method"), Scheme: strings.ToLower(u.Scheme),
			Host: u.Host, URI: u.RequestURI()}
	default:
		o = original{Convention: Envoy, Method: r.Method, Scheme: r.Header.Get("X-Forwarded-Proto"), Host: r.Host, URI: "/" + suffix}
		if r.URL.RawQuery != "" {
			o.URI += "?" + r.URL.RawQuery
		}
		if o.Scheme == "" {
			o.Scheme = "https"
		}
	}
	if o.Method == "" {
		o.Method = r.Method
	}
	return o.check()
}

// check validates what the proxy said and derives the keys routes are matched on.
func (o original) check() (original, error) {
	if len(o.Method) > maxMethodLen || !isToken(o.Method) {
		return original{}, &badOriginal{"the original method is not an HTTP method"}
	}
	o.Scheme = strings.ToLower(o.Scheme)
	if o.Scheme != "http" && o.Scheme != "https" {
		return original{}, &badOriginal{"the original scheme must be http or https"}
	}
	key, ok := hostKey(o.Host)
	if !ok {
		return original{}, &badOriginal{"the original host is not a host name or address"}
	}
	o.HostKey = key
	if len(o.URI) > maxURILen || !strings.HasPrefix(o.URI, "/") || strings.ContainsAny(o.URI, " \r\n\t#") {
		return original{}, &badOriginal{"the original URI must be a path (and query) starting with '/'"}
	}
	u, err := url.ParseRequestURI(o.URI)
	if err != nil || u.Host != "" {
		return original{}, &badOriginal{"the original URI is not a valid request target"}
	}
	p, ok := matchPath(u.Path)
	if !ok {
		return original{}, &badOriginal{"the original path is not valid"}
	}
	o.Path = p
	return o, nil
}

// matchPath turns a decoded request path into the path routes are matched on, erring on
// the side of the path a lenient server would serve: backslashes count as slashes,
// matrix parameters (";...") are dropped from each segment, and dot segments are
// resolved, so "/wiki/..;/payroll" and "/wiki/%2e%2e/payroll" are decided as
// "/payroll". A NUL byte is refused.
func matchPath(p string) (string, bool) {
	if strings.IndexByte(p, 0) >= 0 {
		return "", false
	}
	p = strings.ReplaceAll(p, "\\", "/")
	if strings.IndexByte(p, ';') >= 0 {
		segs := strings.Split(p, "/")
		for i, s := range segs {
			if j := strings.IndexByte(s, ';'); j >= 0 {
				segs[i] = s[:j]
			}
		}
		p = strings.Join(segs, "/")
	}
	return path.Clean("/" + p), true
}

// hostKey normalises a Host header value for matching: lower-case, without the port
// and the trailing dot, IPv6 without brackets and in canonical form.
func hostKey(h string) (string, bool) {
	if h == "" || len(h) > 260 || strings.ContainsAny(h, "/\\@?# \t") {
		return "", false
	}
	host := h
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return "", false
		}
		a, err := netip.ParseAddr(h[1:end])
		if err != nil || !a.Is6() {
			return "", false
		}
		if rest := h[end+1:]; rest != "" && (rest[0] != ':' || !validPort(rest[1:])) {
			return "", false
		}
		return a.WithZone("").String(), true
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		if strings.Count(h, ":") > 1 {
			return "", false // an IPv6 address must be bracketed in a Host
		}
		if !validPort(h[i+1:]) {
			return "", false
		}
		host = h[:i]
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" {
		return "", false
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap().String(), true
	}
	return host, true
}

func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}

// isToken reports whether s is an RFC 9110 token (a method name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// peerAddr is the TCP peer of r.
func peerAddr(r *http.Request) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}
