// Package threatintel keeps lists of known-bad addresses (threat-intelligence feeds)
// current and answers, in well under a microsecond, whether an address is on one.
//
// A Source is a file or an http(s) URL in one of three formats: plain text (one address
// or CIDR per line, the format of Spamhaus DROP and most blocklists), CSV (a column of
// addresses, found by its header) and STIX 2.1 bundles (indicator objects whose pattern
// compares ipv4-addr or ipv6-addr values; other indicators are ignored and validity
// windows are respected). Feeds refreshes every source on a schedule. A refresh that
// fails (the server is down, the body is not a feed) keeps the source's last good list,
// and Status says so: when each source last succeeded, its last error, its entries and
// how many lines were malformed. Malformed lines are counted and reported, never fatal.
//
// Lookups go through an immutable longest-prefix-match table (github.com/gaissmai/bart)
// swapped in atomically after each refresh, so readers never wait.
package threatintel
