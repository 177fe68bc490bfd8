package threatintel_test

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weft-fabric/weft/analytics/threatintel"
)

func TestParseAddress(t *testing.T) {
	tests := []struct {
		in, want string // want "" means an error
	}{
		{"198.51.100.7", "198.51.100.7/32"},
		{" 198.51.100.7 ", "198.51.100.7/32"},
		{"198.51.100.7/24", "198.51.100.0/24"}, // host bits masked
		{"2001:db8::1", "2001:db8::1/128"},
		{"::ffff:198.51.100.7", "198.51.100.7/32"},
		{"::ffff:198.51.100.0/120", "198.51.100.0/24"},
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"2001:db8::/16", "2001::/16"},
		{"0.0.0.0/0", ""}, // would list everyone
		{"10.0.0.0/7", ""},
		{"::/0", ""},
		{"2000::/3", ""},
		{"::ffff:0.0.0.0/95", ""},
		{"fe80::1%eth0", ""},
		{"198.51.100.300", ""},
		{"198.51.100.0/33", ""},
		{"evil.example", ""},
		{"", ""},
	}
	for _, tc := range tests {
		got, err := threatintel.ParseAddress(tc.in)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("ParseAddress(%q) = %s, want an error", tc.in, got)
		case tc.want != "" && (err != nil || got.String() != tc.want):
			t.Errorf("ParseAddress(%q) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

func prefixes(es []threatintel.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Prefix.String()
	}
	return out
}

func TestParse(t *testing.T) {
	tests := []struct {
		name      string
		file      string
		format    threatintel.Format
		want      []string
		malformed int
		skipped   int
		problems  []string // substrings of Problems, in order
	}{
		{name: "plain", file: "testdata/blocklist.txt", format: threatintel.Plain,
			want:      []string{"192.0.2.0/26", "198.51.100.7/32", "2001:db8:dead::/48", "203.0.113.200/32", "198.51.100.8/32"},
			malformed: 3, problems: []string{"line 8: not an address", "line 9: not an address", "line 10: prefix 0.0.0.0/0 is broader"}},
		{name: "csv with a header", file: "testdata/feed.csv", format: threatintel.CSV,
			want:      []string{"198.51.100.10/32", "203.0.113.16/28", "2001:db8:c0::1/128"},
			malformed: 2, problems: []string{"line 5: no address in column 2", "line 7: not an address"}},
		{name: "stix bundle", file: "testdata/indicators.json", format: threatintel.STIX,
			want: []string{"198.51.100.1/32", "203.0.113.0/25", "2001:db8:bad::/48", "198.51.100.20/32", "198.51.100.21/32",
				"2001:db8:beef::1/128", "198.51.100.64/26", "198.51.100.42/32", "198.51.100.50/32"},
			// domain, AND, sigma, revoked, expired
			skipped: 5, malformed: 3, problems: []string{"indicator--a1f2e3d4-0012", "indicator--a1f2e3d4-0013", "indicator--a1f2e3d4-0015"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := os.Open(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			p, err := threatintel.Parse(f, tc.format, "")
			if err != nil {
				t.Fatal(err)
			}
			if got := prefixes(p.Entries); !slices.Equal(got, tc.want) {
				t.Errorf("entries\n %v, want\n %v", got, tc.want)
			}
			if p.Malformed != tc.malformed || p.Skipped != tc.skipped {
				t.Errorf("malformed %d skipped %d, want %d and %d (problems %q)", p.Malformed, p.Skipped, tc.malformed, tc.skipped, p.Problems)
			}
			if len(p.Problems) != len(tc.problems) {
				t.Fatalf("problems %q, want %d", p.Problems, len(tc.problems))
			}
			for i, want := range tc.problems {
				if !strings.Contains(p.Problems[i], want) {
					t.Errorf("problem %d = %q, want it to mention %q", i, p.Problems[i], want)
				}
			}
		})
	}
}

func TestParse_STIXWindowsAndIDs(t *testing.T) {
	f, err := os.Open("testdata/indicators.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := threatintel.Parse(f, threatintel.STIX, "")
	if err != nil {
		t.Fatal(err)
	}
	byPrefix := map[string]threatintel.Entry{}
	for _, e := range p.Entries {
		byPrefix[e.Prefix.String()] = e
	}
	c2 := byPrefix["198.51.100.1/32"]
	if c2.Indicator != "indicator--a1f2e3d4-0001-4000-8000-000000000001" || !c2.ValidFrom.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) || !c2.ValidUntil.IsZero() {
		t.Errorf("C2 entry %+v", c2)
	}
	later := byPrefix["198.51.100.42/32"]
	if later.ActiveAt(time.Date(2089, 12, 31, 0, 0, 0, 0, time.UTC)) || !later.ActiveAt(time.Date(2090, 6, 1, 0, 0, 0, 0, time.UTC)) ||
		later.ActiveAt(time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("window of %+v not respected", later)
	}
}

func TestParse_Rejects(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		format threatintel.Format
		column string
	}{
		{"stix that is not JSON", "<html>502 Bad Gateway</html>", threatintel.STIX, ""},
		{"JSON that is not a bundle", `{"type":"indicator","pattern":"[ipv4-addr:value = '198.51.100.1']"}`, threatintel.STIX, ""},
		{"csv without the named column", "a,b\n198.51.100.1,x\n", threatintel.CSV, "ip"},
		{"unknown format", "198.51.100.1\n", "yaml", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if p, err := threatintel.Parse(strings.NewReader(tc.body), tc.format, tc.column); err == nil {
				t.Fatalf("parsed: %+v", p)
			}
		})
	}
}

// A CSV without a header has its addresses in the first column; a named column wins.
func TestParse_CSVColumns(t *testing.T) {
	p, err := threatintel.Parse(strings.NewReader("198.51.100.1,botnet\n198.51.100.2,scanner\n"), threatintel.CSV, "")
	if err != nil || !slices.Equal(prefixes(p.Entries), []string{"198.51.100.1/32", "198.51.100.2/32"}) || p.Malformed != 0 {
		t.Fatalf("headerless: %+v %v", p, err)
	}
	p, err = threatintel.Parse(strings.NewReader("kind,Source IP\nscan,198.51.100.3\n"), threatintel.CSV, "source ip")
	if err != nil || !slices.Equal(prefixes(p.Entries), []string{"198.51.100.3/32"}) {
		t.Fatalf("named column: %+v %v", p, err)
	}
}
