package geoip_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weft-fabric/weft/analytics"
	"github.com/weft-fabric/weft/analytics/geoip"
	"github.com/weft-fabric/weft/analytics/geoip/geoiptest"
)

func openTest(t *testing.T) *geoip.DB {
	t.Helper()
	db, err := geoip.Open(geoip.Config{
		CityPath: geoiptest.WriteCity(t, geoiptest.Berlin, geoiptest.Potsdam, geoiptest.NewYork, geoiptest.Sydney,
			geoiptest.Tokyo6, geoiptest.CountryFR, geoiptest.OnlyRegistered),
		ASNPath: geoiptest.WriteASN(t, geoiptest.ASBerlin, geoiptest.ASNewYork),
	})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestDB_Locate(t *testing.T) {
	db := openTest(t)
	tests := []struct {
		name string
		ip   string
		want analytics.Location
	}{
		{"city with ASN", "192.0.2.10", analytics.Location{Country: "DE", City: "2950159", Network: "AS64500", ASN: 64500,
			ASOrg: "Example Carrier Berlin", Lat: 52.52, Lon: 13.405, AccuracyKM: 20, Located: true}},
		{"second city, same AS", "192.0.2.200", analytics.Location{Country: "DE", City: "2852458", Network: "AS64500", ASN: 64500,
			ASOrg: "Example Carrier Berlin", Lat: 52.3906, Lon: 13.0645, AccuracyKM: 20, Located: true}},
		{"IPv4-mapped IPv6 is the IPv4 address", "::ffff:198.51.100.7", analytics.Location{Country: "US", City: "5128581",
			Network: "AS64501", ASN: 64501, ASOrg: "Example Transit NY", Lat: 40.7128, Lon: -74.006, AccuracyKM: 50, Located: true}},
		{"no ASN: the /24", "203.0.113.99", analytics.Location{Country: "AU", City: "2147714", Network: "203.0.113.0/24",
			Lat: -33.8688, Lon: 151.2093, AccuracyKM: 50, Located: true}},
		{"IPv6: the /48", "2001:db8:1:2::1", analytics.Location{Country: "JP", City: "1850147", Network: "2001:db8:1::/48",
			Lat: 35.6762, Lon: 139.6503, AccuracyKM: 100, Located: true}},
		{"country only: not located", "2001:db8:2::5", analytics.Location{Country: "FR", Network: "2001:db8:2::/48"}},
		{"registered country stands in", "2001:db8:3::5", analytics.Location{Country: "NL", Network: "2001:db8:3::/48"}},
		{"unknown address: network only", "100.64.1.2", analytics.Location{Network: "100.64.1.0/24"}},
		{"zoned address", "fe80::1%eth0", analytics.Location{Network: "fe80::/48"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := db.Locate(netip.MustParseAddr(tc.ip)); got != tc.want {
				t.Fatalf("Locate(%s) =\n %+v, want\n %+v", tc.ip, got, tc.want)
			}
		})
	}
	if got := db.Locate(netip.Addr{}); got != (analytics.Location{}) {
		t.Fatalf("the zero address located: %+v", got)
	}
	city, asn := db.Status()
	if !city.Loaded || city.Type != "GeoLite2-City" || !asn.Loaded || asn.Type != "GeoLite2-ASN" || city.Built.IsZero() {
		t.Fatalf("status: %+v %+v", city, asn)
	}
}

// No database configured, or a configured file that is not there: no geo, no error.
// Answers are cached per database record, but a network derived from the address is
// the address's own: two addresses of one record without an ASN get different /24s.
func TestDB_CacheKeepsNetworksPerAddress(t *testing.T) {
	wide := geoiptest.City{Network: "198.18.0.0/15", Country: "ZZ", NoLocation: true}
	db, err := geoip.Open(geoip.Config{CityPath: geoiptest.WriteCity(t, wide)})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second round is answered from the cache
		for ip, want := range map[string]string{"198.18.1.1": "198.18.1.0/24", "198.19.2.2": "198.19.2.0/24"} {
			if got := db.Locate(netip.MustParseAddr(ip)); got.Country != "ZZ" || got.Network != want {
				t.Fatalf("Locate(%s) = %+v, want ZZ and %s", ip, got, want)
			}
		}
	}
}

func TestOpen_MissingDatabaseIsNoGeo(t *testing.T) {
	for _, cfg := range []geoip.Config{{}, {CityPath: filepath.Join(t.TempDir(), "nope.mmdb"), ASNPath: filepath.Join(t.TempDir(), "nope-asn.mmdb")}} {
		db, err := geoip.Open(cfg)
		if err != nil {
			t.Fatalf("Open(%+v): %v", cfg, err)
		}
		want := analytics.Location{Network: "192.0.2.0/24"}
		if got := db.Locate(netip.MustParseAddr("192.0.2.10")); got != want {
			t.Fatalf("Locate without databases = %+v, want %+v", got, want)
		}
		city, _ := db.Status()
		if city.Loaded || (cfg.CityPath != "" && !strings.Contains(city.Problem, "not found")) {
			t.Fatalf("status of a missing database: %+v", city)
		}
	}
}

func TestOpen_InvalidDatabaseIsAnError(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "GeoLite2-City.mmdb")
	if err := os.WriteFile(bad, []byte("<html>not a database</html>"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := geoip.Open(geoip.Config{CityPath: bad}); err == nil || !strings.Contains(err.Error(), "not a MaxMind database") {
		t.Fatalf("Open of a corrupt file: %v", err)
	}
}

// Reload swaps in a replaced file; a corrupt replacement keeps the database in use.
func TestDB_Reload(t *testing.T) {
	path := geoiptest.WriteCity(t, geoiptest.Berlin)
	db, err := geoip.Open(geoip.Config{CityPath: path})
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("192.0.2.10")
	if got := db.Locate(ip).Country; got != "DE" {
		t.Fatalf("country %q", got)
	}
	moved := geoiptest.Berlin
	moved.Country = "AT"
	replace(t, path, geoiptest.WriteCity(t, moved))
	if err := db.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := db.Locate(ip).Country; got != "AT" {
		t.Fatalf("after reload: country %q, want AT", got)
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := db.Reload(); err == nil {
		t.Fatal("reload of a corrupt file succeeded")
	}
	if got := db.Locate(ip).Country; got != "AT" {
		t.Fatalf("a failed reload dropped the database: country %q", got)
	}
	if city, _ := db.Status(); !city.Loaded || city.Problem == "" {
		t.Fatalf("status after a failed reload: %+v", city)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := db.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := db.Locate(ip); got.Country != "" || got.Network != "192.0.2.0/24" {
		t.Fatalf("a removed database still answers: %+v", got)
	}
}

// Run picks up a replaced file by itself.
func TestDB_RunReloadsChangedFiles(t *testing.T) {
	path := geoiptest.WriteCity(t, geoiptest.Berlin)
	db, err := geoip.Open(geoip.Config{CityPath: path})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { db.Run(ctx, 10*time.Millisecond); close(done) }()
	moved := geoiptest.Berlin
	moved.Country = "CH"
	replace(t, path, geoiptest.WriteCity(t, moved, geoiptest.NewYork)) // another size, so another stamp
	ip := netip.MustParseAddr("192.0.2.10")
	deadline := time.Now().Add(5 * time.Second)
	for db.Locate(ip).Country != "CH" {
		if time.Now().After(deadline) {
			t.Fatal("the replaced database was not loaded")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
}

func replace(t *testing.T, dst, src string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkDB_Locate(b *testing.B) {
	db, err := geoip.Open(geoip.Config{CityPath: geoiptest.WriteCity(b, geoiptest.Berlin), ASNPath: geoiptest.WriteASN(b, geoiptest.ASBerlin)})
	if err != nil {
		b.Fatal(err)
	}
	ip := netip.MustParseAddr("192.0.2.10")
	b.ReportAllocs()
	for b.Loop() {
		if !db.Locate(ip).Located {
			b.Fatal("not located")
		}
	}
}
