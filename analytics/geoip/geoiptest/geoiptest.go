// Package geoiptest writes small MaxMind databases for tests, with
// github.com/maxmind/mmdbwriter, in the layouts of GeoLite2-City, GeoLite2-Country and
// GeoLite2-ASN. Addresses in them are data only: nothing is ever sent to them.
package geoiptest

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// City is one network of a City database; Country databases leave out City and the
// coordinates (set NoLocation).
type City struct {
	Network    string // CIDR
	Country    string // ISO code
	Registered string // registered_country ISO code, optional
	GeoNameID  uint32 // city geoname_id; 0 for none
	Lat, Lon   float64
	Accuracy   uint16
	NoLocation bool
}

// ASN is one network of an ASN database.
type ASN struct {
	Network string
	Number  uint32
	Org     string
}

// Places used across the analytics tests, on documentation prefixes (RFC 5737, 3849).
var (
	Berlin    = City{Network: "192.0.2.0/25", Country: "DE", GeoNameID: 2950159, Lat: 52.52, Lon: 13.405, Accuracy: 20}
	Potsdam   = City{Network: "192.0.2.128/25", Country: "DE", GeoNameID: 2852458, Lat: 52.3906, Lon: 13.0645, Accuracy: 20}
	NewYork   = City{Network: "198.51.100.0/24", Country: "US", GeoNameID: 5128581, Lat: 40.7128, Lon: -74.006, Accuracy: 50}
	Sydney    = City{Network: "203.0.113.0/24", Country: "AU", GeoNameID: 2147714, Lat: -33.8688, Lon: 151.2093, Accuracy: 50}
	Tokyo6    = City{Network: "2001:db8:1::/48", Country: "JP", GeoNameID: 1850147, Lat: 35.6762, Lon: 139.6503, Accuracy: 100}
	CountryFR = City{Network: "2001:db8:2::/48", Country: "FR", NoLocation: true}
	// OnlyRegistered has a registered country and nothing else.
	OnlyRegistered = City{Network: "2001:db8:3::/48", Registered: "NL", NoLocation: true}
)

// Networks used across the tests.
var (
	ASBerlin  = ASN{Network: "192.0.2.0/24", Number: 64500, Org: "Example Carrier Berlin"}
	ASNewYork = ASN{Network: "198.51.100.0/24", Number: 64501, Org: "Example Transit NY"}
)

// WriteCity writes a City database (type GeoLite2-City) into t's temporary directory
// and returns its path.
func WriteCity(t testing.TB, cities ...City) string {
	t.Helper()
	w := newWriter(t, "GeoLite2-City")
	for _, c := range cities {
		rec := mmdbtype.Map{}
		if c.Country != "" {
			rec["country"] = mmdbtype.Map{"iso_code": mmdbtype.String(c.Country),
				"names": mmdbtype.Map{"en": mmdbtype.String(c.Country)}}
		}
		if c.Registered != "" {
			rec["registered_country"] = mmdbtype.Map{"iso_code": mmdbtype.String(c.Registered)}
		}
		if c.GeoNameID != 0 {
			rec["city"] = mmdbtype.Map{"geoname_id": mmdbtype.Uint32(c.GeoNameID),
				"names": mmdbtype.Map{"en": mmdbtype.String("city " + strconv.Itoa(int(c.GeoNameID)))}}
		}
		if !c.NoLocation {
			rec["location"] = mmdbtype.Map{"latitude": mmdbtype.Float64(c.Lat), "longitude": mmdbtype.Float64(c.Lon),
				"accuracy_radius": mmdbtype.Uint16(c.Accuracy), "time_zone": mmdbtype.String("Etc/UTC")}
		}
		insert(t, w, c.Network, rec)
	}
	return write(t, w, "GeoLite2-City.mmdb")
}

// WriteASN writes an ASN database (type GeoLite2-ASN) and returns its path.
func WriteASN(t testing.TB, asns ...ASN) string {
	t.Helper()
	w := newWriter(t, "GeoLite2-ASN")
	for _, a := range asns {
		insert(t, w, a.Network, mmdbtype.Map{
			"autonomous_system_number":       mmdbtype.Uint32(a.Number),
			"autonomous_system_organization": mmdbtype.String(a.Org),
		})
	}
	return write(t, w, "GeoLite2-ASN.mmdb")
}

func newWriter(t testing.TB, typ string) *mmdbwriter.Tree {
	t.Helper()
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: typ, RecordSize: 28, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatalf("mmdbwriter: %v", err)
	}
	return w
}

func insert(t testing.TB, w *mmdbwriter.Tree, cidr string, rec mmdbtype.Map) {
	t.Helper()
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		t.Fatalf("geoiptest: %v", err)
	}
	if err := w.Insert(n, rec); err != nil {
		t.Fatalf("geoiptest: insert %s: %v", cidr, err)
	}
}

func write(t testing.TB, w *mmdbwriter.Tree, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteTo(f); err != nil {
		t.Fatalf("geoiptest: write %s: %v", name, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}
