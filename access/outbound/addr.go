package outbound

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// ErrRefused marks a URL or an address Weft does not send to.
var ErrRefused = errors.New("not allowed as an outbound URL")

// Policy says which otherwise refused destinations are allowed.
type Policy struct {
	// Allow lists prefixes the operator allows even though they are internal (say, a
	// webhook relay on 10.1.2.3/32).
	Allow []netip.Prefix
	// AllowHosts lists host names (lower case, exact) whose addresses are all allowed.
	AllowHosts []string
	// Loopback allows loopback addresses, and http to a loopback host.
	Loopback bool
}

// special is an address range Weft refuses, with the reason it gives.
type special struct {
	prefix netip.Prefix
	what   string
}

// specials lists the refused ranges beyond what netip.Addr's predicates name. Order
// matters only for the reason given: the first match is named.
var specials = func() []special {
	var out []special
	add := func(what string, prefixes ...string) {
		for _, p := range prefixes {
			out = append(out, special{netip.MustParsePrefix(p), what})
		}
	}
	add("an unspecified (this-network) address", "0.0.0.0/8")
	add("a carrier-grade NAT address (RFC 6598; also Alibaba's metadata service)", "100.64.0.0/10")
	add("a cloud metadata address", "192.0.0.192/32", "fd00:ec2::254/128")
	add("an IETF special-purpose address", "192.0.0.0/24", "192.88.99.0/24", "2001::/23", "100::/64", "64:ff9b:1::/48")
	add("a documentation address", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "3fff::/20")
	add("a benchmarking address", "198.18.0.0/15")
	add("a reserved address", "240.0.0.0/4", "::/8", "fec0::/10")
	return out
}()

// Embedded IPv4 forms: the IPv4 address inside is what the packet finally reaches.
var (
	nat64  = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4 = netip.MustParsePrefix("2002::/16")
)

// CheckAddr reports whether Weft may connect to ip under p: nil, or an error wrapping
// ErrRefused that names the address class. It is a pure function of its inputs.
func CheckAddr(p Policy, ip netip.Addr) error {
	if !ip.IsValid() {
		return fmt.Errorf("%w: not an IP address", ErrRefused)
	}
	ip = ip.WithZone("")
	for _, a := range p.Allow {
		if a.Contains(ip) || a.Contains(ip.Unmap()) {
			return nil
		}
	}
	what := classify(ip)
	if what == "" {
		return nil
	}
	if what == loopback && p.Loopback {
		return nil
	}
	return fmt.Errorf("%w: %s is %s", ErrRefused, ip, what)
}

const loopback = "a loopback address"

// classify names the class of a refused address, or "" for a public one.
func classify(ip netip.Addr) string {
	ip = ip.Unmap() // ::ffff:10.0.0.1 is 10.0.0.1
	switch {
	case ip.IsUnspecified():
		return "an unspecified address"
	case ip.IsLoopback():
		return loopback
	case ip.Is4() && ip.As4() == [4]byte{169, 254, 169, 254}:
		return "a cloud metadata address"
	case ip.IsLinkLocalUnicast():
		return "a link-local address"
	case ip.IsMulticast():
		return "a multicast address"
	case ip.IsPrivate():
		return "a private address"
	}
	if ip.Is6() {
		b := ip.As16()
		var inner netip.Addr
		switch {
		case nat64.Contains(ip):
			inner = netip.AddrFrom4([4]byte(b[12:16]))
		case sixTo4.Contains(ip):
			inner = netip.AddrFrom4([4]byte(b[2:6]))
		}
		if inner.IsValid() {
			if what := classify(inner); what != "" {
				return what + " (embedded in " + ip.String() + ")"
			}
			return ""
		}
	}
	for _, s := range specials {
		if s.prefix.Contains(ip) {
			return s.what
		}
	}
	if ip.Is4() && ip.As4() == [4]byte{255, 255, 255, 255} {
		return "the broadcast address"
	}
	return ""
}

// hostAllowed reports whether the operator allowed host by name.
func (p Policy) hostAllowed(host string) bool {
	return slices.Contains(p.AllowHosts, strings.ToLower(strings.TrimSuffix(host, ".")))
}

// ParseAllow reads an operator's allowlist: IP addresses, CIDR prefixes (IPv4 or
// IPv6) and host names, as a list. It returns the first bad entry as an error.
func ParseAllow(entries []string) (prefixes []netip.Prefix, hosts []string, err error) {
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if p, perr := netip.ParsePrefix(e); perr == nil {
			prefixes = append(prefixes, p.Masked())
			continue
		}
		if a, aerr := netip.ParseAddr(e); aerr == nil {
			prefixes = append(prefixes, netip.PrefixFrom(a.WithZone(""), a.BitLen()))
			continue
		}
		if !validHostName(e) {
			return nil, nil, fmt.Errorf("%q is neither an IP address, a CIDR prefix nor a host name", e)
		}
		hosts = append(hosts, strings.ToLower(strings.TrimSuffix(e, ".")))
	}
	return prefixes, hosts, nil
}

func validHostName(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}
