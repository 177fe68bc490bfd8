package throttle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"
)

// Limit is a bucket's shape: Burst tokens when full, one more every Period/Rate.
type Limit struct {
	Rate   int
	Period time.Duration
	Burst  int
}

// PerMinute allows n at once, then n a minute.
func PerMinute(n int) Limit { return Limit{Rate: n, Period: time.Minute, Burst: n} }

// Valid reports whether l can be used: a zero rate would divide by zero in every
// adapter.
func (l Limit) Valid() bool { return l.Rate > 0 && l.Period > 0 && l.Burst > 0 }

func (l Limit) emission() time.Duration { return l.Period / time.Duration(l.Rate) }

func (l Limit) String() string { return fmt.Sprintf("%d per %s (burst %d)", l.Rate, l.Period, l.Burst) }

// Result is the outcome of Store.Take.
type Result struct {
	// Allowed: the tokens were taken. Otherwise none were.
	Allowed bool
	// Remaining is how many whole tokens the bucket holds after the take.
	Remaining int
	// RetryAfter is, when not Allowed, how long until the take would succeed.
	RetryAfter time.Duration
}

// Store keeps GCRA buckets and marks. Every method is atomic per key: concurrent Takes
// on one bucket (from any node sharing the store) never take more than it holds.
// Errors mean the backend could not be reached; a Store never errs for a full or an
// empty bucket.
type Store interface {
	// Take takes n tokens from key's bucket if it holds them all; otherwise it takes
	// none and reports when it would.
	Take(ctx context.Context, key string, l Limit, n int) (Result, error)
	// Give returns n tokens to key's bucket (a reservation that turned out not to be a
	// failure), never beyond full.
	Give(ctx context.Context, key string, l Limit, n int) error
	// Mark remembers key for ttl; Marked reports whether it is remembered.
	Mark(ctx context.Context, key string, ttl time.Duration) error
	Marked(ctx context.Context, key string) (bool, error)
}

// ErrRefused is what a throttled attempt wraps (errors.Is), through *RefusedError.
var ErrRefused = errors.New("too many failed attempts")

// RefusedError says an attempt was refused without being evaluated, and when to retry.
type RefusedError struct {
	RetryAfter time.Duration
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%v; retry after %s", ErrRefused, e.RetryAfter.Round(time.Second))
}

// Is makes errors.Is(err, ErrRefused) hold.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// RetryAfterSeconds is the Retry-After header value: whole seconds, at least 1.
func (e *RefusedError) RetryAfterSeconds() int {
	return max(1, int(math.Ceil(e.RetryAfter.Seconds())))
}

// refused builds the error for the longest wait among results.
func refused(wait time.Duration) error { return &RefusedError{RetryAfter: max(wait, time.Second)} }

// key builds a bucket key from a kind and its parts. The parts (usernames, client ids,
// addresses) are hashed: keys stay short whatever a request sends, and no username or
// address is written to Redis in the clear.
func key(kind string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return kind + ":" + hex.EncodeToString(h.Sum(nil)[:16])
}

// AddressKey is the part of a client address that buckets count by: the address
// itself for IPv4, its /64 for IPv6 (one subscriber usually holds a whole /64, so per
// address an attacker would have 2^64 buckets). Anything unparsable is used as is.
func AddressKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.WithZone("").Prefix(64)
	return p.String()
}

func errInvalidLimit(l Limit) error { return fmt.Errorf("throttle: invalid limit %s", l) }
