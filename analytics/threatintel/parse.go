package threatintel

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// Format is a feed's syntax.
type Format string

// The formats a feed may have.
const (
	Plain Format = "plain"
	CSV   Format = "csv"
	STIX  Format = "stix" // a STIX 2.1 bundle (JSON)
)

// Entry is one listed network.
type Entry struct {
	Prefix netip.Prefix
	// Indicator names the entry in its feed: the STIX indicator's id, or empty.
	Indicator string
	// ValidFrom and ValidUntil bound when the entry counts; zero means unbounded.
	ValidFrom, ValidUntil time.Time
}

// ActiveAt reports whether the entry counts at t.
func (e Entry) ActiveAt(t time.Time) bool {
	return (e.ValidFrom.IsZero() || !t.Before(e.ValidFrom)) && (e.ValidUntil.IsZero() || t.Before(e.ValidUntil))
}

// Parsed is what one feed body held.
type Parsed struct {
	Entries []Entry
	// Malformed counts lines (or STIX indicators) that should have named an address
	// and did not; Problems describes the first few, with their line or object number.
	Malformed int
	Problems  []string
	// Skipped counts what was understood and left out on purpose: STIX indicators of
	// other kinds or with patterns this package does not evaluate, revoked or expired
	// indicators.
	Skipped int
}

// maxProblems bounds Parsed.Problems: a feed of garbage must not make a huge status.
const maxProblems = 10

func (p *Parsed) bad(format string, args ...any) {
	p.Malformed++
	if len(p.Problems) < maxProblems {
		p.Problems = append(p.Problems, fmt.Sprintf(format, args...))
	}
}

// Minimum prefix lengths: a feed that lists 0.0.0.0/0 (by mistake or by malice) must not
// take every address with it, so prefixes broader than these are malformed.
const (
	minBits4 = 8
	minBits6 = 16
)

// ParseAddress reads an address or CIDR into a prefix (a bare address is a /32 or
// /128; IPv4-mapped IPv6 becomes IPv4; host bits are masked off).
func ParseAddress(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Prefix{}, errors.New("empty")
	}
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, fmt.Errorf("not an address or CIDR: %q", clip(s))
		}
		if a := p.Addr(); a.Is4In6() {
			if p.Bits() < 96 {
				return netip.Prefix{}, fmt.Errorf("not an address or CIDR: %q", clip(s))
			}
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("not an address or CIDR: %q", clip(s))
		}
		a = a.Unmap()
		p = netip.PrefixFrom(a, a.BitLen())
	}
	p = p.Masked()
	if (p.Addr().Is4() && p.Bits() < minBits4) || (p.Addr().Is6() && p.Bits() < minBits6) {
		return netip.Prefix{}, fmt.Errorf("prefix %s is broader than /%d (IPv4) or /%d (IPv6)", p, minBits4, minBits6)
	}
	return p, nil
}

// clip keeps a quoted bad value short in a problem report.
func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// Parse reads one feed body. It fails only when the body as a whole is not of the
// format (a STIX bundle that is not JSON); bad lines are counted in the result.
func Parse(r io.Reader, f Format, column string) (Parsed, error) {
	switch f {
	case Plain:
		return parsePlain(r)
	case CSV:
		return parseCSV(r, column)
	case STIX:
		return parseSTIX(r)
	}
	return Parsed{}, fmt.Errorf("unknown feed format %q", f)
}

// parsePlain reads one address or CIDR per line. Everything from '#' or ';' on is a
// comment, and only the first field counts, so "192.0.2.0/24 ; SBL123" is an entry.
func parsePlain(r io.Reader) (Parsed, error) {
	var p Parsed
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		fields := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' || r == '\r' })
		if len(fields) == 0 {
			continue
		}
		pfx, err := ParseAddress(fields[0])
		if err != nil {
			p.bad("line %d: %v", n, err)
			continue
		}
		p.Entries = append(p.Entries, Entry{Prefix: pfx})
	}
	if err := sc.Err(); err != nil {
		return p, fmt.Errorf("read plain feed: %w", err)
	}
	return p, nil
}

// csvColumns are the header names taken to hold the address, in order of preference.
var csvColumns = []string{"ip", "ip_address", "ipaddress", "address", "addr", "cidr", "network", "prefix",
	"indicator", "ioc", "value"}

// parseCSV reads the address column of a CSV feed. The column is named by column, or
// found by its header (csvColumns); a file without a header has its addresses in the
// first column. Lines starting with '#' are comments.
func parseCSV(r io.Reader, column string) (Parsed, error) {
	var p Parsed
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	cr.TrimLeadingSpace = true
	idx := -1
	first := true
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				p.bad("line %d: %v", pe.Line, pe.Err)
				continue
			}
			return p, fmt.Errorf("read CSV feed: %w", err)
		}
		if first {
			first = false
			if i := headerIndex(rec, column); i >= 0 {
				idx = i
				continue
			}
			if column != "" {
				return p, fmt.Errorf("CSV feed has no column %q in its first line", column)
			}
			idx = 0
		}
		if idx >= len(rec) || strings.TrimSpace(rec[idx]) == "" {
			p.bad("line %d: no address in column %d", line, idx+1)
			continue
		}
		pfx, err := ParseAddress(rec[idx])
		if err != nil {
			p.bad("line %d: %v", line, err)
			continue
		}
		p.Entries = append(p.Entries, Entry{Prefix: pfx})
	}
	return p, nil
}

// headerIndex finds the address column in a header record; -1 when rec is not a header.
func headerIndex(rec []string, column string) int {
	names := make([]string, len(rec))
	for i, c := range rec {
		names[i] = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(c, "\ufeff")))
	}
	want := csvColumns
	if column != "" {
		want = []string{strings.ToLower(column)}
	}
	for _, w := range want {
		for i, n := range names {
			if n == w {
				return i
			}
		}
	}
	return -1
}

// stixObject is the part of a STIX 2.1 object this package reads.
type stixObject struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	Pattern     string `json:"pattern"`
	PatternType string `json:"pattern_type"`
	ValidFrom   string `json:"valid_from"`
	ValidUntil  string `json:"valid_until"`
	Revoked     bool   `json:"revoked"`
}

var (
	// stixAddr is one comparison of an address value: '=' for an address or CIDR,
	// ISSUBSET for a CIDR (both as STIX 2.1 section 9 defines them).
	stixAddr = regexp.MustCompile(`(ipv4-addr|ipv6-addr):value\s*(?:=|ISSUBSET)\s*'((?:[^'\\]|\\.)*)'`)
	// stixQuoted strips string literals before the operators are looked at, so a
	// value cannot smuggle in an "AND".
	stixQuoted = regexp.MustCompile(`'(?:[^'\\]|\\.)*'`)
	// stixNarrowing are the operators and qualifiers under which one address
	// comparison alone no longer means a match: those patterns are skipped.
	stixNarrowing = regexp.MustCompile(`\b(AND|FOLLOWEDBY|WITHIN|REPEATS|START|STOP|NOT|MATCHES|LIKE)\b|!=|<|>`)
)

// parseSTIX reads a STIX 2.1 bundle. It takes the addresses of indicators whose STIX
// pattern is one or more address comparisons joined by OR (so that any one address is
// enough for a match); indicators of other kinds, with other pattern languages or with
// AND and qualifiers are skipped, and revoked or expired ones too. valid_from and
// valid_until become the entry's window.
func parseSTIX(r io.Reader) (Parsed, error) {
	var p Parsed
	var bundle struct {
		Type    string            `json:"type"`
		Objects []json.RawMessage `json:"objects"`
	}
	if err := json.NewDecoder(r).Decode(&bundle); err != nil {
		return p, fmt.Errorf("not a STIX bundle: %w", err)
	}
	if bundle.Type != "bundle" {
		return p, fmt.Errorf("not a STIX bundle: type %q", clip(bundle.Type))
	}
	now := time.Now()
	for i, raw := range bundle.Objects {
		var o stixObject
		if err := json.Unmarshal(raw, &o); err != nil {
			p.bad("object %d: %v", i+1, err)
			continue
		}
		if o.Type != "indicator" {
			continue
		}
		name := fmt.Sprintf("object %d (%s)", i+1, clip(o.ID))
		if (o.PatternType != "" && o.PatternType != "stix") || o.Revoked {
			p.Skipped++
			continue
		}
		matches := stixAddr.FindAllStringSubmatch(o.Pattern, -1)
		if len(matches) == 0 {
			p.Skipped++ // a domain, URL, file hash... indicator
			continue
		}
		if stixNarrowing.MatchString(stixQuoted.ReplaceAllString(o.Pattern, "''")) {
			p.Skipped++
			continue
		}
		var from, until time.Time
		var err error
		if o.ValidFrom != "" {
			if from, err = time.Parse(time.RFC3339Nano, o.ValidFrom); err != nil {
				p.bad("%s: valid_from %q is not a timestamp", name, clip(o.ValidFrom))
				continue
			}
		}
		if o.ValidUntil != "" {
			if until, err = time.Parse(time.RFC3339Nano, o.ValidUntil); err != nil {
				p.bad("%s: valid_until %q is not a timestamp", name, clip(o.ValidUntil))
				continue
			}
			if !from.IsZero() && !until.After(from) {
				p.bad("%s: valid_until is not after valid_from", name)
				continue
			}
			if !until.After(now) {
				p.Skipped++
				continue
			}
		}
		for _, m := range matches {
			pfx, err := ParseAddress(strings.ReplaceAll(m[2], `\'`, `'`))
			if err == nil && (m[1] == "ipv4-addr") != pfx.Addr().Is4() {
				err = fmt.Errorf("%s value %s is the other address family", m[1], pfx)
			}
			if err != nil {
				p.bad("%s: %v", name, err)
				continue
			}
			p.Entries = append(p.Entries, Entry{Prefix: pfx, Indicator: o.ID, ValidFrom: from, ValidUntil: until})
		}
	}
	return p, nil
}
