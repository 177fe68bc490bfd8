package geoip

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/weft-fabric/weft/analytics"
)

// Config names the database files. Either may be empty.
type Config struct {
	// CityPath is a City or Country database (GeoLite2-City.mmdb, GeoIP2-Country.mmdb,
	// or any database in that layout). A Country database gives no coordinates.
	CityPath string
	// ASNPath is an ASN database (GeoLite2-ASN.mmdb, or GeoIP2-ISP, which has the same
	// fields). Without it, networks are derived from the address.
	ASNPath string
}

// Status says what one database file gave, for health checks and metrics.
type Status struct {
	Path     string    `json:"path,omitempty"`
	Loaded   bool      `json:"loaded"`
	Type     string    `json:"type,omitempty"` // the database's own type, e.g. "GeoLite2-City"
	Built    time.Time `json:"built,omitzero"` // when MaxMind built it
	LoadedAt time.Time `json:"loaded_at,omitzero"`
	Problem  string    `json:"problem,omitempty"` // why it is not loaded, when configured
}

// DB answers analytics.Locator from the configured databases. It is safe for
// concurrent use.
type DB struct {
	cfg  Config
	city atomic.Pointer[maxminddb.Reader]
	asn  atomic.Pointer[maxminddb.Reader]

	mu     sync.Mutex // serialises Reload and guards status
	status [2]Status  // city, asn
}

var _ analytics.Locator = (*DB)(nil)

// Open reads the configured databases. A missing file is not an error (see the package
// doc); an unreadable or invalid one is.
func Open(cfg Config) (*DB, error) {
	d := &DB{cfg: cfg}
	if err := d.Reload(); err != nil {
		return nil, err
	}
	return d, nil
}

// Reload reads the files again and swaps in what it read. On an error the databases
// already loaded stay in use, and the status says what went wrong. A file that has
// gone missing unloads its database (no geo), as a missing file does at Open.
func (d *DB) Reload() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	for i, slot := range []struct {
		path string
		r    *atomic.Pointer[maxminddb.Reader]
	}{{d.cfg.CityPath, &d.city}, {d.cfg.ASNPath, &d.asn}} {
		st := Status{Path: slot.path}
		r, err := load(slot.path)
		switch {
		case err != nil:
			st = d.status[i]
			st.Path, st.Problem = slot.path, err.Error()
			errs = append(errs, err)
		case r == nil:
			slot.r.Store(nil)
			if slot.path != "" {
				st.Problem = "database file not found: no geo from it"
			}
		default:
			slot.r.Store(r)
			st.Loaded, st.Type, st.LoadedAt = true, r.Metadata.DatabaseType, time.Now()
			st.Built = r.Metadata.BuildTime().UTC()
		}
		d.status[i] = st
	}
	return errors.Join(errs...)
}

// load reads one database; nil, nil when path is empty or the file does not exist.
func load(path string) (*maxminddb.Reader, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("geoip: read %s: %w", path, err)
	}
	r, err := maxminddb.OpenBytes(b)
	if err != nil {
		return nil, fmt.Errorf("geoip: %s is not a MaxMind database: %w", path, err)
	}
	return r, nil
}

// Status reports the city and the ASN database, in that order.
func (d *DB) Status() (city, asn Status) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.status[0], d.status[1]
}

// cityRecord is the part of a City or Country record the risk engine uses: decoding
// only these fields keeps a lookup to a few small allocations.
type cityRecord struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	// RegisteredCountry stands in when the database knows where a network is
	// registered but not where it is used.
	RegisteredCountry struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"registered_country"`
	City struct {
		GeoNameID uint32 `maxminddb:"geoname_id"`
	} `maxminddb:"city"`
	Location struct {
		Latitude       *float64 `maxminddb:"latitude"`
		Longitude      *float64 `maxminddb:"longitude"`
		AccuracyRadius uint16   `maxminddb:"accuracy_radius"`
	} `maxminddb:"location"`
}

type asnRecord struct {
	Number uint32 `maxminddb:"autonomous_system_number"`
	Org    string `maxminddb:"autonomous_system_organization"`
}

// Locate implements analytics.Locator. A lookup error (a corrupt record) is treated as
// "not found": geo is advice, never a reason to fail a request.
func (d *DB) Locate(ip netip.Addr) analytics.Location {
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() {
		return analytics.Location{}
	}
	loc := analytics.Location{Network: analytics.NetworkOf(ip)}
	if r := d.city.Load(); r != nil {
		var rec cityRecord
		if res := r.Lookup(ip); res.Found() && res.Decode(&rec) == nil {
			loc.Country = rec.Country.ISOCode
			if loc.Country == "" {
				loc.Country = rec.RegisteredCountry.ISOCode
			}
			if rec.City.GeoNameID != 0 {
				loc.City = strconv.FormatUint(uint64(rec.City.GeoNameID), 10)
			}
			if rec.Location.Latitude != nil && rec.Location.Longitude != nil {
				loc.Lat, loc.Lon, loc.Located = *rec.Location.Latitude, *rec.Location.Longitude, true
				loc.AccuracyKM = rec.Location.AccuracyRadius
			}
		}
	}
	if r := d.asn.Load(); r != nil {
		var rec asnRecord
		if res := r.Lookup(ip); res.Found() && res.Decode(&rec) == nil && rec.Number != 0 {
			loc.ASN, loc.ASOrg, loc.Network = rec.Number, rec.Org, analytics.ASNetwork(rec.Number)
		}
	}
	return loc
}
