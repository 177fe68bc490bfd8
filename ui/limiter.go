package ui

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/weft-fabric/weft/access/throttle"
	"github.com/weft-fabric/weft/identity"
)

// Limiter throttles the login form. The counting is throttle.Login's, shared by every
// node through the throttle store: per address and per account+address it refuses,
// per account it only delays (nobody can lock an account out from elsewhere), and a
// browser that signed in to the account before skips the delay. On top, each address
// may have only a few logins in flight on a node at once, so one address cannot park
// many requests in the delay or in the hashing queue.
type Limiter struct {
	throttle    *throttle.Login
	maxInFlight int
	// wait holds a login for the delay the throttle imposed (throttle.Wait; tests
	// record the delay instead of timing it).
	wait func(ctx context.Context, d time.Duration) error

	mu       sync.Mutex
	inFlight map[string]int
}

// NewLimiter limits logins through t, with at most maxInFlight at once per address.
func NewLimiter(t *throttle.Login, maxInFlight int) (*Limiter, error) {
	if t == nil {
		return nil, errors.New("ui.NewLimiter: missing throttle")
	}
	if maxInFlight < 1 {
		return nil, errors.New("ui.NewLimiter: maxInFlight must be at least 1")
	}
	return &Limiter{throttle: t, maxInFlight: maxInFlight, wait: throttle.Wait, inFlight: map[string]int{}}, nil
}

// enter admits a login from ip unless ip has maxInFlight already; leave must be called
// when it is done.
func (l *Limiter) enter(ip string) (leave func(), ok bool) {
	addr := throttle.AddressKey(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inFlight[addr] >= l.maxInFlight {
		return nil, false
	}
	l.inFlight[addr]++
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.inFlight[addr]--; l.inFlight[addr] <= 0 {
			delete(l.inFlight, addr)
		}
	}, true
}

// accountKey is the account a typed username counts against: the directory's own
// canonical form (PRECIS UsernameCaseMapped after NFKC), so "ａlice" and "ALICE" spend
// alice's budget. Names the directory refuses cannot sign anyone in; they share one
// bucket.
func accountKey(username string) string {
	n, err := identity.NormalizeUsername(username)
	if err != nil {
		return "\x00invalid"
	}
	return n
}
