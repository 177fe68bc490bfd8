package access_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/outbound"
)

type resolverMap map[string]string

func (m resolverMap) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := m[host]; ok {
		return []netip.Addr{netip.MustParseAddr(a)}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func noDial(context.Context, string, string) (net.Conn, error) {
	return nil, errors.New("these tests make no network calls")
}

// TestClients_BackchannelLogoutURIResolvesInternally: with the outbound guard of an
// issuer that is not on loopback, a back-channel logout URI whose host resolves to an
// internal address, or that is on loopback, is refused on backchannel_logout_uri and
// nothing is written; a public one is stored (issue 9, M2). Nothing is dialled.
func TestClients_BackchannelLogoutURIResolvesInternally(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		guard := outbound.New(outbound.Policy{}, outbound.Options{Dial: noDial,
			Resolver: resolverMap{"rp.example": "93.184.215.14", "internal.example": "10.0.0.1", "meta.example": "169.254.169.254"}})
		e.clients.CheckPushURLsWith(guard)
		spec := func(uri string) access.ClientSpec {
			return access.ClientSpec{ID: "web", Name: "Web", Type: access.Confidential, Secret: "web-secret-long-enough",
				GrantTypes: []string{access.GrantClientCredentials}, BackchannelLogoutURI: uri}
		}
		for _, tc := range []struct{ uri, why string }{
			{"https://internal.example/bcl", "private"},
			{"https://meta.example/bcl", "metadata"},
			{"https://10.0.0.1/bcl", "private"},
			{"https://[fd00::1]/bcl", "private"},
			{"https://127.0.0.1:15000/quitquitquit", "loopback"},
			{"http://127.0.0.1:9772/bcl", "https"},
			{"https://nowhere.example/bcl", "does not resolve"},
		} {
			_, _, err := e.clients.Apply(ctx, spec(tc.uri))
			wantField(t, err, "backchannel_logout_uri")
			if !strings.Contains(err.Error(), tc.why) {
				t.Errorf("%s: %v, want a reason naming %q", tc.uri, err, tc.why)
			}
		}
		if _, err := e.clients.Client(ctx, "web"); err == nil {
			t.Fatal("a refused client was stored")
		}
		if c := e.apply(t, spec("https://rp.example/bcl?x=1"), true, true); c.BackchannelLogoutURI != "https://rp.example/bcl?x=1" {
			t.Fatalf("stored %q", c.BackchannelLogoutURI)
		}
		// An update to an internal URI is refused and keeps the stored one.
		if _, _, err := e.clients.Apply(ctx, spec("https://internal.example/bcl")); err == nil {
			t.Fatal("update to an internal URI accepted")
		}
		if c := e.client(t, "web"); c.BackchannelLogoutURI != "https://rp.example/bcl?x=1" {
			t.Fatalf("after a refused update: %q", c.BackchannelLogoutURI)
		}

		// The issuer on loopback (a laptop): loopback http is fine, internal is not.
		e.clients.CheckPushURLsWith(outbound.New(outbound.Policy{Loopback: true}, outbound.Options{Dial: noDial, Resolver: resolverMap{}}))
		e.apply(t, spec("http://127.0.0.1:9772/bcl"), false, true)
		_, _, err := e.clients.Apply(ctx, spec("https://10.0.0.1/bcl"))
		wantField(t, err, "backchannel_logout_uri")
	})
}
