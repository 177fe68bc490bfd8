package throttle

import (
	"context"
	"sync"
	"time"
)

// Local is the in-process Store: the embedded default, and the fallback behind Redis.
// It runs the same GCRA as access/redisstore.Throttle (redis_rate's script): a bucket is
// its theoretical arrival time (tat), and n tokens are there when tat + n*emission lies
// no further than Burst*emission ahead of now.
type Local struct {
	now func() time.Time

	mu    sync.Mutex
	tat   map[string]time.Time
	marks map[string]time.Time
	ops   int
	max   int
}

var _ Store = (*Local)(nil)

// localMaxKeys bounds memory under a flood of distinct keys (each bucket is about a
// hundred bytes). A bucket lives only until it is full again (a minute or so at the
// default limits), so only a flood of more distinct addresses or names than this within
// that time reaches it; then the store starts afresh, which forgives every bucket once
// rather than growing without bound.
const localMaxKeys = 1 << 20

// NewLocal returns an empty in-process store.
func NewLocal() *Local {
	return &Local{now: time.Now, tat: map[string]time.Time{}, marks: map[string]time.Time{}, max: localMaxKeys}
}

// Take implements Store.
func (s *Local) Take(_ context.Context, key string, l Limit, n int) (Result, error) {
	if !l.Valid() {
		return Result{}, errInvalidLimit(l)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.sweep(now)
	em := l.emission()
	tat := s.tat[key]
	if tat.Before(now) {
		tat = now
	}
	newTat := tat.Add(em * time.Duration(n))
	diff := now.Sub(newTat.Add(-em * time.Duration(l.Burst)))
	if diff < 0 {
		return Result{RetryAfter: -diff}, nil
	}
	if newTat.After(now) {
		s.tat[key] = newTat
	}
	return Result{Allowed: true, Remaining: int(diff / em)}, nil
}

// Give implements Store.
func (s *Local) Give(_ context.Context, key string, l Limit, n int) error {
	if !l.Valid() {
		return errInvalidLimit(l)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	tat, ok := s.tat[key]
	if !ok {
		return nil
	}
	if tat.Before(now) {
		tat = now
	}
	if tat = tat.Add(-l.emission() * time.Duration(n)); tat.After(now) {
		s.tat[key] = tat
	} else {
		delete(s.tat, key)
	}
	return nil
}

// Mark implements Store.
func (s *Local) Mark(_ context.Context, key string, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.sweep(now)
	s.marks[key] = now.Add(ttl)
	return nil
}

// Marked implements Store.
func (s *Local) Marked(_ context.Context, key string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	until, ok := s.marks[key]
	return ok && s.now().Before(until), nil
}

// sweep drops full buckets and expired marks every so often, and everything when the
// maps outgrow their bound anyway.
func (s *Local) sweep(now time.Time) {
	s.ops++
	if s.ops < 4096 && len(s.tat) < s.max && len(s.marks) < s.max {
		return
	}
	s.ops = 0
	for k, t := range s.tat {
		if !t.After(now) {
			delete(s.tat, k)
		}
	}
	for k, t := range s.marks {
		if !t.After(now) {
			delete(s.marks, k)
		}
	}
	if len(s.tat) >= s.max {
		clear(s.tat)
	}
	if len(s.marks) >= s.max {
		clear(s.marks)
	}
}
