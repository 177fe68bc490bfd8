// Package memstore keeps the risk engine's State in the process, for a single node
// (the embedded default) and for tests. Memory is bounded: each kind of record lives in
// an LRU with a maximum size, each subject remembers a bounded number of devices and
// networks, and each failure counter a bounded number of recent failures; records
// unused for longer than their TTL count as absent.
package memstore

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/weft-fabric/weft/analytics"
)

// Options bound the store. Zero fields take their defaults.
type Options struct {
	MaxSubjects int // subjects with a baseline or standing risk (default 100,000)
	MaxSessions int // sessions with a baseline (default 100,000)
	MaxCounters int // failure counters, half for users and half for addresses (default 100,000)
	MaxKnown    int // devices, and networks, remembered per subject (default 32 each)
	MaxFailures int // recent failures kept per counter (default 256)
	// TTL forgets a subject's device, network or last place unused for this long
	// (default 90 days).
	TTL time.Duration
	// SessionTTL forgets a session's baseline this long after it was first seen
	// (default 30 days, longer than any login session lives).
	SessionTTL time.Duration
}

func (o *Options) defaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxSubjects, 100_000)
	def(&o.MaxSessions, 100_000)
	def(&o.MaxCounters, 100_000)
	def(&o.MaxKnown, 32)
	def(&o.MaxFailures, 256)
	if o.TTL <= 0 {
		o.TTL = 90 * 24 * time.Hour
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 30 * 24 * time.Hour
	}
}

// Store implements analytics.State in memory. It is safe for concurrent use.
type Store struct {
	opts Options

	mu       sync.Mutex
	subjects *simplelru.LRU[string, *subject]
	sessions *simplelru.LRU[string, analytics.SessionView]
	// Failures of users and of addresses, oldest first, in two LRUs so that their
	// keys need no prefix (no string built per request).
	userFailures, ipFailures *simplelru.LRU[string, []time.Time]
}

type subject struct {
	observed bool
	seenAt   time.Time
	devices  map[string]time.Time // last seen
	networks map[string]time.Time
	last     analytics.Place
	hasLast  bool
	standing analytics.Standing
}

var _ analytics.State = (*Store)(nil)

// New makes an empty store.
func New(o Options) *Store {
	o.defaults()
	s := &Store{opts: o}
	s.subjects, _ = simplelru.NewLRU[string, *subject](o.MaxSubjects, nil) // sizes are positive: no error
	s.sessions, _ = simplelru.NewLRU[string, analytics.SessionView](o.MaxSessions, nil)
	s.userFailures, _ = simplelru.NewLRU[string, []time.Time](max(o.MaxCounters/2, 1), nil)
	s.ipFailures, _ = simplelru.NewLRU[string, []time.Time](max(o.MaxCounters/2, 1), nil)
	return s
}

// Load implements analytics.State.
func (s *Store) Load(_ context.Context, q analytics.Query) (analytics.Snapshot, error) {
	var snap analytics.Snapshot
	s.mu.Lock()
	defer s.mu.Unlock()
	if sub, ok := s.subjects.Get(q.Subject); ok && q.Subject != "" {
		snap.Subject.Seen, snap.Subject.SeenAt = sub.observed, sub.seenAt
		snap.Subject.DeviceKnown = s.fresh(sub.devices, q.DeviceID, q.At)
		snap.Subject.NetworkKnown = s.fresh(sub.networks, q.Network, q.At)
		if sub.hasLast && q.At.Sub(sub.last.At) < s.opts.TTL {
			snap.Subject.Last, snap.Subject.HasLast = sub.last, true
		}
		snap.Standing = sub.standing
	}
	if v, ok := s.sessions.Get(q.SessionID); ok && q.SessionID != "" && q.At.Sub(v.At) < s.opts.SessionTTL {
		snap.Session = v
	}
	snap.UserFailures = count(s.userFailures, q.User, q.At, q.FailureWindow)
	snap.IPFailures = count(s.ipFailures, q.IP, q.At, q.FailureWindow)
	return snap, nil
}

func (s *Store) fresh(m map[string]time.Time, key string, at time.Time) bool {
	if key == "" {
		return false
	}
	t, ok := m[key]
	return ok && at.Sub(t) < s.opts.TTL
}

func count(l *simplelru.LRU[string, []time.Time], key string, at time.Time, window time.Duration) int {
	if key == "" {
		return 0
	}
	ts, ok := l.Get(key)
	if !ok {
		return 0
	}
	n := 0
	for _, t := range ts {
		if at.Sub(t) < window && !t.After(at) {
			n++
		}
	}
	return n
}

// Observe implements analytics.State.
func (s *Store) Observe(_ context.Context, o analytics.Observation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o.Subject != "" {
		sub := s.subject(o.Subject)
		sub.observed = true
		if o.At.After(sub.seenAt) {
			sub.seenAt = o.At
		}
		if o.Learn {
			sub.devices = s.remember(sub.devices, o.DeviceID, o.At)
			sub.networks = s.remember(sub.networks, o.Network, o.At)
		}
		// Keep the latest place: writes from a queue or other nodes may arrive late.
		if o.Located && (!sub.hasLast || !o.Place.At.Before(sub.last.At)) {
			sub.last, sub.hasLast = o.Place, true
		}
	}
	if o.SessionID != "" {
		if v, ok := s.sessions.Peek(o.SessionID); !ok || o.At.Sub(v.At) >= s.opts.SessionTTL {
			s.sessions.Add(o.SessionID, analytics.SessionView{Seen: true, Country: o.Country, Network: o.Network,
				DeviceID: o.DeviceID, At: o.At})
		}
	}
	return nil
}

// subject returns the subject's record, creating it; the caller holds mu.
func (s *Store) subject(id string) *subject {
	sub, ok := s.subjects.Get(id)
	if !ok {
		sub = &subject{}
		s.subjects.Add(id, sub)
	}
	return sub
}

// remember marks key seen at at, forgetting the least recently seen entry when the
// set is full.
func (s *Store) remember(m map[string]time.Time, key string, at time.Time) map[string]time.Time {
	if key == "" {
		return m
	}
	if m == nil {
		m = make(map[string]time.Time, 4)
	}
	if _, ok := m[key]; !ok && len(m) >= s.opts.MaxKnown {
		var oldest string
		var ot time.Time
		for k, t := range m {
			if oldest == "" || t.Before(ot) {
				oldest, ot = k, t
			}
		}
		delete(m, oldest)
	}
	if t, ok := m[key]; !ok || at.After(t) {
		m[key] = at
	}
	return m
}

// AddFailure implements analytics.State.
func (s *Store) AddFailure(_ context.Context, user, ip string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range []struct {
		l   *simplelru.LRU[string, []time.Time]
		key string
	}{{s.userFailures, user}, {s.ipFailures, ip}} {
		if c.key == "" {
			continue
		}
		ts, _ := c.l.Get(c.key)
		if len(ts) >= s.opts.MaxFailures {
			ts = append(ts[:0], ts[len(ts)-s.opts.MaxFailures+1:]...)
		}
		c.l.Add(c.key, append(ts, at))
	}
	return nil
}

// RaiseStanding implements analytics.State.
func (s *Store) RaiseStanding(_ context.Context, subject string, amount float64, reason analytics.Reason, halfLife time.Duration, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := s.subject(subject)
	cur := sub.standing.Decayed(at, halfLife)
	sub.standing = analytics.Standing{Score: min(cur+amount, 100), At: at, Reason: reason}
	return nil
}
