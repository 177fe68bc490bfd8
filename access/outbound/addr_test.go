package outbound

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// TestCheckAddr: the address rule as a pure function. Nothing is dialled.
func TestCheckAddr(t *testing.T) {
	allow := Policy{Allow: []netip.Prefix{netip.MustParsePrefix("10.1.2.0/24"), netip.MustParsePrefix("fd12::/16")}}
	for _, tc := range []struct {
		addr   string
		p      Policy
		refuse string // "" allowed; otherwise a word of the reason
	}{
		// Public addresses.
		{"93.184.215.14", Policy{}, ""},
		{"1.1.1.1", Policy{}, ""},
		{"2606:4700:4700::1111", Policy{}, ""},
		{"::ffff:93.184.215.14", Policy{}, ""},
		{"64:ff9b::5db8:d70e", Policy{}, ""}, // NAT64 of a public address
		{"2002:5db8:d70e::1", Policy{}, ""},  // 6to4 of a public address
		// Loopback: only with Policy.Loopback.
		{"127.0.0.1", Policy{}, "loopback"},
		{"127.1.2.3", Policy{}, "loopback"},
		{"::1", Policy{}, "loopback"},
		{"::ffff:127.0.0.1", Policy{}, "loopback"},
		{"127.0.0.1", Policy{Loopback: true}, ""},
		{"::1", Policy{Loopback: true}, ""},
		{"::ffff:127.0.0.1", Policy{Loopback: true}, ""},
		{"10.0.0.1", Policy{Loopback: true}, "private"}, // loopback allows loopback only
		// Unspecified.
		{"0.0.0.0", Policy{}, "unspecified"},
		{"0.1.2.3", Policy{}, "unspecified"},
		{"::", Policy{}, "unspecified"},
		{"0.0.0.0", Policy{Loopback: true}, "unspecified"},
		// RFC 1918 and ULA.
		{"10.0.0.1", Policy{}, "private"},
		{"172.16.0.1", Policy{}, "private"},
		{"172.31.255.254", Policy{}, "private"},
		{"192.168.1.1", Policy{}, "private"},
		{"::ffff:10.0.0.1", Policy{}, "private"},
		{"::ffff:192.168.0.1", Policy{}, "private"},
		{"fd00::1", Policy{}, "private"},
		{"fc00::1", Policy{}, "private"},
		{"fec0::1", Policy{}, "reserved"}, // deprecated site-local
		// Link-local and metadata.
		{"169.254.169.254", Policy{}, "metadata"},
		{"::ffff:169.254.169.254", Policy{}, "metadata"},
		{"169.254.1.1", Policy{}, "link-local"},
		{"fe80::1", Policy{}, "link-local"},
		{"fe80::1%eth0", Policy{}, "link-local"},
		{"fd00:ec2::254", Policy{}, "private"},
		{"192.0.0.192", Policy{}, "metadata"},
		{"100.100.100.200", Policy{}, "carrier-grade"},
		// CGNAT.
		{"100.64.0.1", Policy{}, "carrier-grade"},
		{"100.127.255.254", Policy{}, "carrier-grade"},
		{"100.128.0.1", Policy{}, ""}, // just outside 100.64/10
		// Multicast and broadcast.
		{"224.0.0.1", Policy{}, "multicast"},
		{"239.255.255.250", Policy{}, "multicast"},
		{"ff02::1", Policy{}, "multicast"},
		{"255.255.255.255", Policy{}, "reserved"},
		{"240.0.0.1", Policy{}, "reserved"},
		// Special purpose, documentation, benchmarking.
		{"192.0.2.1", Policy{}, "documentation"},
		{"198.51.100.7", Policy{}, "documentation"},
		{"203.0.113.9", Policy{}, "documentation"},
		{"2001:db8::1", Policy{}, "documentation"},
		{"198.18.0.1", Policy{}, "benchmarking"},
		{"2001::1", Policy{}, "special-purpose"}, // Teredo
		{"::10.0.0.1", Policy{}, "reserved"},     // IPv4-compatible
		// Embedded IPv4 forms of refused addresses.
		{"64:ff9b::a00:1", Policy{}, "private"},            // NAT64 of 10.0.0.1
		{"64:ff9b::a9fe:a9fe", Policy{}, "metadata"},       // NAT64 of 169.254.169.254
		{"2002:7f00:1::1", Policy{}, "loopback"},           // 6to4 of 127.0.0.1
		{"2002:a9fe:a9fe::", Policy{}, "metadata"},         // 6to4 of 169.254.169.254
		{"64:ff9b:1::a00:1", Policy{}, "special-purpose"},  // local-use NAT64
		{"::ffff:100.64.0.1", Policy{}, "carrier-grade"},   // mapped CGNAT
		{"::ffff:224.0.0.1", Policy{}, "multicast"},        // mapped multicast
		{"::ffff:0.0.0.0", Policy{}, "unspecified"},        // mapped unspecified
		{"::ffff:255.255.255.255", Policy{}, "reserved"},   // mapped broadcast
		{"::ffff:169.254.1.1", Policy{}, "link-local"},     // mapped link-local
		{"::ffff:198.18.0.1", Policy{}, "benchmarking"},    // mapped benchmarking
		{"::ffff:192.0.0.192", Policy{}, "metadata"},       // mapped Oracle metadata
		{"::ffff:100.100.100.200", Policy{}, "carrier"},    // mapped Alibaba metadata
		{"::ffff:203.0.113.1", Policy{}, "documentation"},  // mapped documentation
		{"::ffff:172.16.0.1", Policy{}, "private"},         // mapped private
		{"::ffff:127.255.255.254", Policy{}, "loopback"},   // mapped loopback
		{"::ffff:240.0.0.1", Policy{}, "reserved"},         // mapped reserved
		{"::ffff:239.1.1.1", Policy{}, "multicast"},        // mapped multicast
		{"::ffff:0.1.2.3", Policy{}, "unspecified"},        // mapped this-network
		{"::ffff:192.0.2.1", Policy{}, "documentation"},    // mapped documentation
		{"::ffff:198.51.100.1", Policy{}, "documentation"}, // mapped documentation
		// The operator's allowlist.
		{"10.1.2.3", allow, ""},
		{"::ffff:10.1.2.3", allow, ""},
		{"10.1.3.1", allow, "private"},
		{"fd12::5", allow, ""},
		{"fd13::5", allow, "private"},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			err := CheckAddr(tc.p, netip.MustParseAddr(tc.addr))
			if tc.refuse == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.refuse) {
				t.Fatalf("got %v, want a refusal naming %q", err, tc.refuse)
			}
		})
	}
	if err := CheckAddr(Policy{}, netip.Addr{}); !errors.Is(err, ErrRefused) {
		t.Fatalf("the zero address: %v", err)
	}
}

func TestParseAllow(t *testing.T) {
	p, h, err := ParseAllow([]string{" 10.1.2.3 ", "192.168.0.0/16", "fd00::1", "Hooks.Internal.Example.", ""})
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != 3 || p[0].String() != "10.1.2.3/32" || p[1].String() != "192.168.0.0/16" || p[2].String() != "fd00::1/128" ||
		len(h) != 1 || h[0] != "hooks.internal.example" {
		t.Fatalf("prefixes %v, hosts %v", p, h)
	}
	for _, bad := range []string{"10.0.0.0/33", "http://x.example", "a..b", "-x.example", "x_y.example"} {
		if _, _, err := ParseAllow([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://rp.example/ssf":                      "https://rp.example/ssf",
		"https://rp.example/ssf?token=s3cret":         "https://rp.example/ssf?…",
		"https://user:pw@rp.example/x?a=1#frag":       "https://rp.example/x?…",
		"http://127.0.0.1:9771/internal/admin?x=1":    "http://127.0.0.1:9771/internal/admin?…",
		"https://rp.example/p%20q?access_token=abc&b": "https://rp.example/p%20q?…",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIssuerOnLoopback(t *testing.T) {
	for iss, want := range map[string]bool{
		"http://localhost:8080": true, "http://127.0.0.1:8190": true, "http://[::1]:8080": true,
		"https://weft.example": false, "https://10.0.0.1": false, "https://localhost.example.com": false,
	} {
		if got := IssuerOnLoopback(iss); got != want {
			t.Errorf("IssuerOnLoopback(%q) = %v", iss, got)
		}
	}
}
