package analytics

import (
	"net/netip"
	"strconv"
)

// Locator finds where an address is (analytics/geoip reads MaxMind databases). Locate
// never fails: an address it knows nothing about has the zero Location, perhaps with
// Network set.
type Locator interface {
	Locate(ip netip.Addr) Location
}

// NetworkOf names the network of ip for the baselines when no ASN is known: the /24 of
// an IPv4 address and the /48 of an IPv6 one, the blocks a provider usually hands a
// site, so a device renewing its lease is not a new network. An IPv4-mapped IPv6
// address counts as IPv4. The zero Addr has no network ("").
func NetworkOf(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	ip = ip.Unmap()
	bits := 48
	if ip.Is4() {
		bits = 24
	}
	p, err := ip.WithZone("").Prefix(bits)
	if err != nil {
		return ""
	}
	return p.String()
}

// ASNetwork names the network of an autonomous system, as Location.Network does.
func ASNetwork(asn uint32) string {
	return "AS" + strconv.FormatUint(uint64(asn), 10)
}
