package geoip

import (
	"context"
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
	cfg Config
	cur atomic.Pointer[readers]

	mu     sync.Mutex // serialises Reload and guards status and loaded
	status [2]Status  // city, asn
	loaded [2]string  // the files' stamps when last read
}

// readers are the databases in use and the cache of what they answered; Reload swaps
// in a new set, so a cache never outlives its databases.
type readers struct {
	city, asn *maxminddb.Reader
	cache     *cache
}

// cacheSize bounds the cache of decoded records; past it the cache starts over.
const cacheSize = 16384

// cache maps a pair of records (their offsets in the two databases) to the Location
// decoded from them: most requests come from few networks, and decoding is the
// costly part of a lookup.
type cache struct {
	mu sync.RWMutex
	m  map[[2]uintptr]analytics.Location
}

func (c *cache) get(k [2]uintptr) (analytics.Location, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	l, ok := c.m[k]
	return l, ok
}

func (c *cache) put(k [2]uintptr, l analytics.Location) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= cacheSize {
		clear(c.m)
	}
	c.m[k] = l
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
	d.loaded = d.stamp() // before reading: a change during the read is seen next time
	next := &readers{cache: &cache{m: map[[2]uintptr]analytics.Location{}}}
	if cur := d.cur.Load(); cur != nil {
		next.city, next.asn = cur.city, cur.asn
	}
	var errs []error
	for i, slot := range []struct {
		path string
		r    **maxminddb.Reader
	}{{d.cfg.CityPath, &next.city}, {d.cfg.ASNPath, &next.asn}} {
		st := Status{Path: slot.path}
		r, err := load(slot.path)
		switch {
		case err != nil: // keep the database in use
			st = d.status[i]
			st.Path, st.Problem = slot.path, err.Error()
			errs = append(errs, err)
		case r == nil:
			*slot.r = nil
			if slot.path != "" {
				st.Problem = "database file not found: no geo from it"
			}
		default:
			*slot.r = r
			st.Loaded, st.Type, st.LoadedAt = true, r.Metadata.DatabaseType, time.Now()
			st.Built = r.Metadata.BuildTime().UTC()
		}
		d.status[i] = st
	}
	d.cur.Store(next)
	return errors.Join(errs...)
}

// Run reloads the databases when their files change (geoipupdate replaces them in
// place), checking every interval until ctx ends. A failed reload keeps what was in
// use; Status says what went wrong.
func (d *DB) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.mu.Lock()
		changed := d.stamp() != d.loaded
		d.mu.Unlock()
		if changed {
			_ = d.Reload()
		}
	}
}

// stamp is what Run compares: each file's size and modification time.
func (d *DB) stamp() [2]string {
	var out [2]string
	for i, p := range []string{d.cfg.CityPath, d.cfg.ASNPath} {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err == nil {
			out[i] = fi.ModTime().String() + "/" + strconv.FormatInt(fi.Size(), 10)
		}
	}
	return out
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
	dbs := d.cur.Load()
	var cityRes, asnRes maxminddb.Result
	var key [2]uintptr
	if dbs.city != nil {
		if cityRes = dbs.city.Lookup(ip); cityRes.Found() {
			key[0] = cityRes.Offset() + 1 // 0 stays "no record"
		}
	}
	if dbs.asn != nil {
		if asnRes = dbs.asn.Lookup(ip); asnRes.Found() {
			key[1] = asnRes.Offset() + 1
		}
	}
	loc, ok := dbs.cache.get(key)
	if !ok {
		loc = decode(cityRes, asnRes, key)
		dbs.cache.put(key, loc)
	}
	if loc.ASN == 0 {
		loc.Network = analytics.NetworkOf(ip) // per address: not cacheable by record
	}
	return loc
}

// decode reads the records that key names.
func decode(cityRes, asnRes maxminddb.Result, key [2]uintptr) analytics.Location {
	var loc analytics.Location
	if key[0] != 0 {
		var rec cityRecord
		if cityRes.Decode(&rec) == nil {
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
	if key[1] != 0 {
		var rec asnRecord
		if asnRes.Decode(&rec) == nil && rec.Number != 0 {
			loc.ASN, loc.ASOrg, loc.Network = rec.Number, rec.Org, analytics.ASNetwork(rec.Number)
		}
	}
	return loc
}
