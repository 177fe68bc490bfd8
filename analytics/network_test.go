package analytics_test

import (
	"net/netip"
	"testing"

	"github.com/weft-fabric/weft/analytics"
)

func TestNetworkOf(t *testing.T) {
	tests := []struct {
		ip, want string
	}{
		{"192.0.2.77", "192.0.2.0/24"},
		{"::ffff:192.0.2.77", "192.0.2.0/24"},
		{"2001:db8:aa:bb::1", "2001:db8:aa::/48"},
		{"fe80::1%eth0", "fe80::/48"},
	}
	for _, tc := range tests {
		if got := analytics.NetworkOf(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("NetworkOf(%s) = %q, want %q", tc.ip, got, tc.want)
		}
	}
	if got := analytics.NetworkOf(netip.Addr{}); got != "" {
		t.Errorf("NetworkOf(zero) = %q", got)
	}
	if got := analytics.ASNetwork(64500); got != "AS64500" {
		t.Errorf("ASNetwork = %q", got)
	}
}
