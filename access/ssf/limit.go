package ssf

import (
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter bounds how often something keyed may happen: here, verification requests per
// stream (SSF 1.0 section 8.1.4 lets a transmitter limit them). Each verification
// queues a SET, so without a bound one receiver could fill the outbox and the database.
type Limiter interface {
	// Allow takes one event for key; when none is left it reports how long until one is.
	Allow(key string) (ok bool, retryAfter time.Duration)
}

// RateLimitError is a request refused because its limit is spent (429 with Retry-After).
type RateLimitError struct {
	RetryAfter time.Duration
	What       string
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("too many %s; retry in %s", e.What, e.RetryAfter.Round(time.Second))
}

// RetryAfterSeconds is RetryAfter rounded up to whole seconds, at least 1 (the
// Retry-After header's unit).
func (e *RateLimitError) RetryAfterSeconds() int {
	return max(1, int(math.Ceil(e.RetryAfter.Seconds())))
}

// Verification requests per stream: a burst of a few, then one every ten seconds.
const (
	verifyEvery = 10 * time.Second
	verifyBurst = 3
)

// LocalLimiter is an in-process Limiter: token buckets per key, forgotten once full
// again. Each node limits on its own, so n nodes allow n times the rate; that bounds
// the outbox all the same.
type LocalLimiter struct {
	mu      sync.Mutex
	every   time.Duration
	burst   int
	buckets map[string]*rate.Limiter
	now     func() time.Time
}

// NewLocalLimiter allows burst events at once per key, then one every every.
func NewLocalLimiter(every time.Duration, burst int) *LocalLimiter {
	return &LocalLimiter{every: every, burst: burst, buckets: map[string]*rate.Limiter{}, now: time.Now}
}

// Allow implements Limiter.
func (l *LocalLimiter) Allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.buckets) > 10000 {
		for k, b := range l.buckets {
			if b.TokensAt(now) >= float64(l.burst) {
				delete(l.buckets, k)
			}
		}
	}
	b, ok := l.buckets[key]
	if !ok {
		b = rate.NewLimiter(rate.Every(l.every), l.burst)
		l.buckets[key] = b
	}
	r := b.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}
