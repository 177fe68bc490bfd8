package ui

import (
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter throttles failed login attempts per client IP and per username, so neither one
// address guessing many accounts nor many addresses guessing one account get far. It is
// in-process (each node limits on its own); a Redis-backed limiter shared by nodes comes
// with the fan-out work.
type Limiter struct {
	mu      sync.Mutex
	perKey  map[string]*entry
	rate    rate.Limit
	burst   int
	lastGC  time.Time
	maxKeys int
}

type entry struct {
	lim  *rate.Limiter
	seen time.Time
}

// NewLimiter allows burst attempts at once and then perMinute a minute, per key.
func NewLimiter(perMinute float64, burst int) *Limiter {
	return &Limiter{perKey: map[string]*entry{}, rate: rate.Limit(perMinute / 60), burst: burst, maxKeys: 100000}
}

// Allow reports whether an attempt from ip for username may go ahead: both buckets
// must have a token left. Only failures spend tokens (Fail), so people signing in
// successfully behind one address are never slowed down.
func (l *Limiter) Allow(ip, username string) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gc(now)
	return l.get("ip:"+ip, now).TokensAt(now) >= 1 && l.get("user:"+strings.ToLower(username), now).TokensAt(now) >= 1
}

// Fail records a failed attempt against both buckets.
func (l *Limiter) Fail(ip, username string) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.get("ip:"+ip, now).AllowN(now, 1)
	l.get("user:"+strings.ToLower(username), now).AllowN(now, 1)
}

func (l *Limiter) gc(now time.Time) {
	if now.Sub(l.lastGC) > time.Minute || len(l.perKey) > l.maxKeys {
		for k, e := range l.perKey {
			if now.Sub(e.seen) > 10*time.Minute {
				delete(l.perKey, k)
			}
		}
		l.lastGC = now
	}
}

func (l *Limiter) get(k string, now time.Time) *rate.Limiter {
	e, ok := l.perKey[k]
	if !ok {
		e = &entry{lim: rate.NewLimiter(l.rate, l.burst)}
		l.perKey[k] = e
	}
	e.seen = now
	return e.lim
}
