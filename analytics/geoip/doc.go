// Package geoip locates client addresses with MaxMind databases in the mmdb format
// (GeoLite2 or GeoIP2 City or Country, and ASN), through
// github.com/oschwald/maxminddb-golang/v2. It gives the risk engine a country, a city,
// coordinates and a network (the ASN) per address.
//
// A database that is not configured, or whose file does not exist, means no geo: every
// address then has only its derived network (analytics.NetworkOf), and the detectors
// that need places stay quiet. A file that exists but is not a valid database is an
// error, because that is a configuration mistake worth stopping for.
//
// Databases are read into memory rather than mapped, so Reload can swap in a newer
// file (geoipupdate replaces them weekly) while lookups are in flight.
package geoip
