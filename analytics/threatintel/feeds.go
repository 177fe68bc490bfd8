package threatintel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gaissmai/bart"

	"github.com/weft-fabric/weft/analytics"
)

// Source is one feed.
type Source struct {
	// Name identifies the source in matches, status and metrics.
	Name string
	// Location is a file path or an http(s) URL.
	Location string
	// Format is the feed's syntax; empty means by the file extension (.json is STIX,
	// .csv is CSV) and plain text otherwise.
	Format Format
	// Column names the CSV column holding addresses, when the header does not say it
	// in one of the usual words (ip, address, cidr, network, indicator, value...).
	Column string
	// Header is sent with every request for a URL (an API key, say). It never appears
	// in status or errors.
	Header http.Header
}

// Config configures Feeds.
type Config struct {
	Sources []Source
	// Refresh is how often every source is fetched again (default 1h).
	Refresh time.Duration
	// Timeout bounds one fetch (default 30s).
	Timeout time.Duration
	// MaxBytes bounds one feed body (default 64 MiB); a larger body fails the refresh.
	MaxBytes int64
	// Client fetches URLs (default: a plain http.Client).
	Client *http.Client
	// Now is the clock for validity windows (default time.Now).
	Now func() time.Time
}

// Match says why an address is listed.
type Match struct {
	Source    string       // the Source's Name
	Prefix    netip.Prefix // the listed network
	Indicator string       // the STIX indicator id, if any
}

// SourceStatus is one source's health, for health checks and metrics.
type SourceStatus struct {
	Name     string `json:"name"`
	Location string `json:"location"` // without credentials or query
	Format   Format `json:"format"`
	// LastAttempt and LastSuccess are the times of the last refresh and of the last
	// one that succeeded; LastError is the last refresh's error, empty after a success.
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	// Entries is the size of the list in use (the last good one).
	Entries int `json:"entries"`
	// Malformed, Problems and Skipped describe the last successful parse.
	Malformed int      `json:"malformed"`
	Problems  []string `json:"problems,omitempty"`
	Skipped   int      `json:"skipped"`
	// Failures counts refreshes that failed since the process started.
	Failures int64 `json:"failures"`
}

// Healthy reports whether the source has a list and its last refresh succeeded.
func (s SourceStatus) Healthy() bool { return !s.LastSuccess.IsZero() && s.LastError == "" }

// Feeds keeps every source's last good list and the table built from them.
type Feeds struct {
	cfg   Config
	table atomic.Pointer[bart.Table[Match]]
	// windows holds the validity windows of entries that have one, by prefix, so the
	// table's values stay small and lookups of unbounded entries never read a clock.
	windows atomic.Pointer[map[netip.Prefix]window]

	mu      sync.Mutex // serialises refreshes; guards sources
	sources []*source
}

type window struct{ from, until time.Time }

var _ analytics.ThreatList = (*Feeds)(nil)

type source struct {
	Source
	format       Format
	entries      []Entry
	status       SourceStatus
	etag, lastMo string // HTTP validators of the last good body
}

// New checks the configuration; nothing is fetched until Refresh or Run.
func New(cfg Config) (*Feeds, error) {
	if cfg.Refresh <= 0 {
		cfg.Refresh = time.Hour
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 64 << 20
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	f := &Feeds{cfg: cfg}
	seen := map[string]bool{}
	for i, s := range cfg.Sources {
		if s.Name == "" || s.Location == "" {
			return nil, fmt.Errorf("threat feed %d: name and location are required", i+1)
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("threat feed %q: name used twice", s.Name)
		}
		seen[s.Name] = true
		format := s.Format
		if format == "" {
			format = formatOf(s.Location)
		}
		if format != Plain && format != CSV && format != STIX {
			return nil, fmt.Errorf("threat feed %q: unknown format %q (plain, csv or stix)", s.Name, s.Format)
		}
		if isURL(s.Location) {
			u, err := url.Parse(s.Location)
			if err != nil || u.Host == "" {
				return nil, fmt.Errorf("threat feed %q: location is not a valid URL", s.Name)
			}
		} else if strings.Contains(s.Location, "://") {
			return nil, fmt.Errorf("threat feed %q: only files and http(s) URLs are supported", s.Name)
		}
		src := &source{Source: s, format: format}
		src.status = SourceStatus{Name: s.Name, Location: redact(s.Location), Format: format}
		f.sources = append(f.sources, src)
	}
	f.table.Store(new(bart.Table[Match]))
	f.windows.Store(&map[netip.Prefix]window{})
	return f, nil
}

func isURL(loc string) bool {
	l := strings.ToLower(loc)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")
}

func formatOf(loc string) Format {
	if u, err := url.Parse(loc); err == nil && isURL(loc) {
		loc = u.Path
	}
	switch strings.ToLower(filepath.Ext(loc)) {
	case ".json", ".stix":
		return STIX
	case ".csv":
		return CSV
	}
	return Plain
}

// redact keeps credentials and query strings (where API keys hide) out of status.
func redact(loc string) string {
	if !isURL(loc) {
		return loc
	}
	u, err := url.Parse(loc)
	if err != nil {
		return "(invalid URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// Lookup reports whether ip is listed, and by which entry (the longest matching
// prefix). It takes no lock and allocates nothing.
func (f *Feeds) Lookup(ip netip.Addr) (Match, bool) {
	m, ok := f.table.Load().Lookup(ip.Unmap())
	if !ok {
		return Match{}, false
	}
	if w, bounded := (*f.windows.Load())[m.Prefix]; bounded {
		e := Entry{ValidFrom: w.from, ValidUntil: w.until}
		if !e.ActiveAt(f.cfg.Now()) {
			return Match{}, false
		}
	}
	return m, true
}

// Len is the number of entries in the table in use.
func (f *Feeds) Len() int { return f.table.Load().Size() }

// Status reports every source, in configuration order.
func (f *Feeds) Status() []SourceStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]SourceStatus, len(f.sources))
	for i, s := range f.sources {
		out[i] = s.status
		out[i].Problems = slices.Clone(s.status.Problems)
	}
	return out
}

// Run refreshes every source now and then every Refresh until ctx ends. Failures are
// in Status; Run itself never stops for one.
func (f *Feeds) Run(ctx context.Context) {
	t := time.NewTicker(f.cfg.Refresh)
	defer t.Stop()
	for {
		_ = f.Refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Refresh fetches every source once and swaps in the new table. A source that fails
// keeps its last good list; the error returned joins every source's failure.
func (f *Feeds) Refresh(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	for _, s := range f.sources {
		if err := f.refresh(ctx, s); err != nil {
			errs = append(errs, fmt.Errorf("threat feed %q: %w", s.Name, err))
		}
	}
	f.rebuild()
	return errors.Join(errs...)
}

func (f *Feeds) refresh(ctx context.Context, s *source) error {
	now := f.cfg.Now()
	s.status.LastAttempt = now
	r, err := f.fetch(ctx, s)
	if err == nil && !r.notModified && len(r.Entries) == 0 && r.Malformed > 0 {
		// Every line was bad: an error page, or the wrong format. Keeping the last
		// good list beats emptying it.
		err = fmt.Errorf("no valid entry (%d malformed; first: %s)", r.Malformed, r.Problems[0])
	}
	if err != nil {
		s.status.LastError = err.Error()
		s.status.Failures++
		return err
	}
	s.status.LastSuccess, s.status.LastError = now, ""
	if !r.notModified {
		s.entries, s.etag, s.lastMo = r.Entries, r.etag, r.lastMo
		s.status.Entries, s.status.Malformed, s.status.Problems, s.status.Skipped = len(r.Entries), r.Malformed, r.Problems, r.Skipped
	}
	return nil
}

// fetched is one fetch's outcome: the parsed body and its HTTP validators, or
// notModified when the server said the last good body is current.
type fetched struct {
	Parsed
	notModified  bool
	etag, lastMo string
}

// fetch reads and parses a source.
func (f *Feeds) fetch(ctx context.Context, s *source) (fetched, error) {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	var (
		out  fetched
		body []byte
	)
	if !isURL(s.Location) {
		fh, err := os.Open(s.Location)
		if err != nil {
			return out, fmt.Errorf("open: %w", errors.Unwrap(err))
		}
		defer fh.Close()
		if body, err = readLimited(fh, f.cfg.MaxBytes); err != nil {
			return out, err
		}
	} else {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Location, nil)
		if err != nil {
			return out, errors.New("invalid URL")
		}
		for k, v := range s.Header {
			req.Header[k] = v
		}
		if s.etag != "" {
			req.Header.Set("If-None-Match", s.etag)
		}
		if s.lastMo != "" {
			req.Header.Set("If-Modified-Since", s.lastMo)
		}
		resp, err := f.cfg.Client.Do(req)
		if err != nil {
			// url.Error repeats the URL, which may carry a key: keep only the cause.
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return out, fmt.Errorf("fetch: %w", err)
		}
		defer resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusNotModified && (s.etag != "" || s.lastMo != ""):
			out.notModified = true
			return out, nil
		case resp.StatusCode != http.StatusOK:
			return out, fmt.Errorf("fetch: HTTP status %d", resp.StatusCode)
		}
		if body, err = readLimited(resp.Body, f.cfg.MaxBytes); err != nil {
			return out, err
		}
		out.etag, out.lastMo = resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	}
	p, err := Parse(bytes.NewReader(body), s.format, s.Column)
	if err != nil {
		return fetched{}, err
	}
	out.Parsed = p
	return out, nil
}

func readLimited(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("feed is larger than %d bytes", limit)
	}
	return b, nil
}

// rebuild makes a new table of every source's last good entries that are still (or
// not yet) valid; where two sources list one prefix, the first source wins.
func (f *Feeds) rebuild() {
	now := f.cfg.Now()
	t := new(bart.Table[Match])
	windows := map[netip.Prefix]window{}
	for i := len(f.sources) - 1; i >= 0; i-- {
		s := f.sources[i]
		for _, e := range s.entries {
			if !e.ValidUntil.IsZero() && !now.Before(e.ValidUntil) {
				continue
			}
			t.Insert(e.Prefix, Match{Source: s.Name, Prefix: e.Prefix, Indicator: e.Indicator})
			if e.ValidFrom.IsZero() && e.ValidUntil.IsZero() {
				delete(windows, e.Prefix)
			} else {
				windows[e.Prefix] = window{e.ValidFrom, e.ValidUntil}
			}
		}
	}
	f.table.Store(t)
	f.windows.Store(&windows)
}

// Listed implements analytics.ThreatList: the name of the source listing ip.
func (f *Feeds) Listed(ip netip.Addr) (string, bool) {
	m, ok := f.Lookup(ip)
	return m.Source, ok
}
