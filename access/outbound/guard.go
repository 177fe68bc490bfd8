package outbound

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Resolver looks up a host's addresses; *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// DialFunc connects to address (an IP literal and port); the default is a net.Dialer
// whose Control hook checks the address once more before connecting.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// Options tune the client; zero values take the defaults.
type Options struct {
	// Resolver resolves host names, at registration and at connect time
	// (default net.DefaultResolver).
	Resolver Resolver
	// Dial connects to a checked address (tests record or redirect it).
	Dial DialFunc
	// ConnectTimeout bounds one TCP connect and the TLS handshake (default 5 s);
	// Timeout bounds the whole exchange, body included (default 10 s).
	ConnectTimeout time.Duration
	Timeout        time.Duration
	// MaxBody bounds the response body a caller can read (default 64 KiB); reading
	// beyond it fails.
	MaxBody int64
}

// Guard applies a Policy to URLs at registration and to connections at delivery.
type Guard struct {
	policy Policy
	opts   Options
	// namedDial dials the addresses of hosts the operator allowed by name, without the
	// Control hook; it is opts.Dial when a test injected one.
	namedDial DialFunc
}

// New returns a guard for p.
func New(p Policy, o Options) *Guard {
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 5 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxBody <= 0 {
		o.MaxBody = 64 << 10
	}
	g := &Guard{policy: p, opts: o, namedDial: o.Dial}
	if o.Dial == nil {
		g.opts.Dial = (&net.Dialer{Timeout: o.ConnectTimeout, Control: g.Control}).DialContext
		g.namedDial = (&net.Dialer{Timeout: o.ConnectTimeout}).DialContext
	}
	return g
}

// IssuerOnLoopback reports whether issuer's host is a loopback name or address: Weft
// then runs on a laptop, and the relying parties it calls run there too.
func IssuerOnLoopback(issuer string) bool {
	u, err := url.Parse(issuer)
	return err == nil && IsLoopbackHost(u.Hostname())
}

// IsLoopbackHost reports whether h (a URL's host name, without port) is localhost or a
// loopback address, IPv4-mapped included.
func IsLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}

// CheckURL applies the registration rule to raw: absolute https (http only to a
// loopback host while loopback is allowed), no user information or fragment, and a
// host that resolves only to allowed addresses. The error wraps ErrRefused and says
// what to change; it never shows addresses the host resolved to, which would let a
// registrant map internal DNS names.
func (g *Guard) CheckURL(ctx context.Context, raw string) error {
	u, err := g.checkSyntax(raw)
	if err != nil {
		return err
	}
	host := u.Hostname()
	if g.policy.hostAllowed(host) {
		return nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return CheckAddr(g.policy, a)
	}
	if _, err := g.resolve(ctx, host); err != nil {
		return err
	}
	return nil
}

// checkSyntax checks what can be checked without the network.
func (g *Guard) checkSyntax(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" {
		return nil, fmt.Errorf("%w: must be an absolute https URL", ErrRefused)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("%w: must be an https URL", ErrRefused)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: must not contain user information", ErrRefused)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, fmt.Errorf("%w: must not contain a fragment", ErrRefused)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%w: needs a host", ErrRefused)
	}
	if u.Scheme == "http" && (!g.policy.Loopback || !IsLoopbackHost(u.Hostname())) {
		return nil, fmt.Errorf("%w: must be https (http only to a loopback host on a development set-up)", ErrRefused)
	}
	return u, nil
}

// resolve returns host's addresses if every one is allowed. localhost is loopback
// whatever a resolver says (RFC 6761 section 6.3).
func (g *Guard) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	var addrs []netip.Addr
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		addrs = []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()}
	} else {
		// A slow resolver must not hold a registration, or a delivery, for long.
		ctx, cancel := context.WithTimeout(ctx, g.opts.ConnectTimeout)
		defer cancel()
		var err error
		if addrs, err = g.opts.Resolver.LookupNetIP(ctx, "ip", host); err != nil || len(addrs) == 0 {
			return nil, fmt.Errorf("%w: host %s does not resolve", ErrRefused, host)
		}
	}
	for _, a := range addrs {
		if err := CheckAddr(g.policy, a); err != nil {
			// Name the class, not the address (see CheckURL).
			what := classify(a.Unmap())
			return nil, fmt.Errorf("%w: host %s resolves to %s; Weft does not send to internal addresses unless the operator allows them (outbound_allow)",
				ErrRefused, host, what)
		}
	}
	return addrs, nil
}

// Control is the net.Dialer Control hook: it sees the socket's address right before
// connect(2) and refuses a disallowed one, so nothing is sent to it.
func (g *Guard) Control(network, address string, _ syscall.RawConn) error {
	switch network {
	case "tcp4", "tcp6":
	default:
		return fmt.Errorf("%w: network %s", ErrRefused, network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRefused, err)
	}
	return CheckAddr(g.policy, ap.Addr())
}

// dialContext resolves addr's host, checks every address and dials the checked
// addresses in turn, so the address connected to is the one that was checked.
func (g *Guard) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	pn, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("%w: port %q", ErrRefused, port)
	}
	dial := g.opts.Dial
	var addrs []netip.Addr
	switch a, perr := netip.ParseAddr(host); {
	case perr == nil:
		if err := CheckAddr(g.policy, a); err != nil {
			return nil, err
		}
		addrs = []netip.Addr{a.WithZone("")}
	case g.policy.hostAllowed(host):
		// The operator named this host: its addresses are allowed, whatever they are,
		// so the Control hook (which sees only addresses) must not refuse them.
		if addrs, err = g.opts.Resolver.LookupNetIP(ctx, "ip", host); err != nil || len(addrs) == 0 {
			return nil, fmt.Errorf("resolve %s: no address", host)
		}
		dial = g.namedDial
	default:
		if addrs, err = g.resolve(ctx, host); err != nil {
			return nil, err
		}
	}
	var errs []error
	for _, a := range addrs {
		c, err := dial(ctx, network, netip.AddrPortFrom(a.Unmap(), uint16(pn)).String())
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// Client is the HTTP client for outbound calls; its errors never carry a URL's query.
type Client struct{ hc *http.Client }

// Do sends r. On a transport error the URL in the error is redacted (Redact), so that
// logs, receipts and the audit log never carry a query a receiver put a secret in.
func (c *Client) Do(r *http.Request) (*http.Response, error) {
	resp, err := c.hc.Do(r)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = Redact(ue.URL)
		}
		return nil, err
	}
	return resp, nil
}

// Client returns the HTTP client for outbound calls under the guard's rules.
func (g *Guard) Client() *Client {
	t := &http.Transport{
		Proxy:                  nil, // never the environment's proxy: it would dial for us, unchecked
		DialContext:            g.dialContext,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    g.opts.ConnectTimeout,
		ResponseHeaderTimeout:  g.opts.Timeout,
		MaxResponseHeaderBytes: 16 << 10,
		MaxIdleConns:           64,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
	}
	return &Client{hc: &http.Client{
		Transport: &guarded{next: t, g: g},
		Timeout:   g.opts.Timeout,
		// No redirects: one would carry the token, and a receiver's authorization
		// header, to a URL nobody checked.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// guarded checks each request's URL before it is sent and bounds the response body.
type guarded struct {
	next http.RoundTripper
	g    *Guard
}

func (t *guarded) RoundTrip(r *http.Request) (*http.Response, error) {
	if _, err := t.g.checkSyntax(r.URL.String()); err != nil {
		if r.Body != nil {
			_ = r.Body.Close()
		}
		return nil, err
	}
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{r: resp.Body, left: t.g.opts.MaxBody}
	return resp, nil
}

// errTooLarge is returned by a body read past the limit.
var errTooLarge = errors.New("outbound response body too large")

type limitedBody struct {
	r    io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells a body that ends exactly at the limit from a longer one.
		var one [1]byte
		if n, _ := b.r.Read(one[:]); n > 0 {
			return 0, errTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.r.Close() }

// Redact returns raw without query, fragment and user information, for logs, audit
// entries and receipts: receivers sometimes put a secret in the query.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	if u.User == nil && u.RawQuery == "" && u.Fragment == "" && !u.ForceQuery {
		return raw
	}
	u.User, u.RawQuery, u.Fragment, u.RawFragment, u.ForceQuery = nil, "", "", "", false
	return u.String() + "?…"
}
