package throttle

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// LoginLimits bound failed logins. Per address and per account+address they refuse;
// per account (from everywhere) they only delay, so nobody can lock an account out
// by guessing at it from elsewhere (the review's L3).
type LoginLimits struct {
	// PerIP counts failures from one address for every account.
	PerIP Limit
	// PerAccountIP counts failures for one account from one address.
	PerAccountIP Limit
	// PerAccount counts failures for one account from every address. Past it, each
	// attempt waits before its password is checked, twice as long per further
	// failure up to MaxDelay; the delay drains at PerAccount's rate.
	PerAccount Limit
	MaxDelay   time.Duration
	// DeviceKnownFor is how long a browser (its device cookie) that signed in to an
	// account skips that account's delay.
	DeviceKnownFor time.Duration
}

// DefaultLoginLimits are the settings' defaults.
var DefaultLoginLimits = LoginLimits{PerIP: PerMinute(20), PerAccountIP: PerMinute(5), PerAccount: PerMinute(10),
	MaxDelay: 5 * time.Second, DeviceKnownFor: 30 * 24 * time.Hour}

// delaySteps is how many failures past PerAccount the delay keeps doubling for; the
// account's bucket holds that many more tokens than PerAccount's burst, and an attempt
// past even those waits MaxDelay without being counted.
const delaySteps = 16

// firstDelay is the delay of the first failure past PerAccount.
const firstDelay = 100 * time.Millisecond

// Login throttles the login form.
type Login struct {
	store   Store
	lim     LoginLimits
	refused atomic.Int64
}

// Refused is how many attempts were refused since start (a metric).
func (g *Login) Refused() int64 { return g.refused.Load() }

// NewLogin returns the login throttle over s.
func NewLogin(s Store, l LoginLimits) (*Login, error) {
	if s == nil {
		return nil, errors.New("throttle.NewLogin: missing Store")
	}
	if !l.PerIP.Valid() || !l.PerAccountIP.Valid() || !l.PerAccount.Valid() || l.MaxDelay < 0 || l.DeviceKnownFor <= 0 {
		return nil, errors.New("throttle.NewLogin: every limit must be positive")
	}
	return &Login{store: s, lim: l}, nil
}

// LoginAttempt is a reserved login attempt.
type LoginAttempt struct {
	*Reservation
	// Delay is how long to wait before checking the password.
	Delay time.Duration
}

// Reserve reserves a login attempt for account (the normalised username) from ip, by a
// browser whose device cookie is device (empty without one), before its password is
// checked. It returns a *RefusedError when the address, or the account from this
// address, has failed too often. On success call Succeeded with the browser's device
// (it then skips this account's delay), on "hashing busy" Cancel; a failure keeps the
// reservation.
func (g *Login) Reserve(ctx context.Context, account, ip, device string) (*LoginAttempt, error) {
	addr := AddressKey(ip)
	r, err := reserve(ctx, g.store, take{key("login-ip", addr), g.lim.PerIP},
		take{key("login-account-ip", account, addr), g.lim.PerAccountIP})
	if err != nil {
		if errors.Is(err, ErrRefused) {
			g.refused.Add(1)
		}
		return nil, err
	}
	a := &LoginAttempt{Reservation: r}
	if device != "" {
		known, err := g.store.Marked(ctx, key("login-device", account, device))
		if err != nil {
			r.Cancel(ctx)
			return nil, err
		}
		if known {
			return a, nil
		}
	}
	acct := take{key("login-account", account), g.accountLimit()}
	res, err := g.store.Take(ctx, acct.key, acct.lim, 1)
	if err != nil {
		r.Cancel(ctx)
		return nil, err
	}
	if !res.Allowed {
		a.Delay = g.lim.MaxDelay
		return a, nil
	}
	r.taken = append(r.taken, acct)
	a.Delay = g.delay(acct.lim.Burst - res.Remaining - g.lim.PerAccount.Burst)
	return a, nil
}

// RememberDevice marks device as having signed in to account, so its next attempts skip
// the account's delay. Call it after Succeeded, with the device cookie the browser now
// holds.
func (g *Login) RememberDevice(ctx context.Context, account, device string) error {
	if device == "" {
		return nil
	}
	return g.store.Mark(ctx, key("login-device", account, device), g.lim.DeviceKnownFor)
}

// accountLimit is PerAccount with room for the delayed failures.
func (g *Login) accountLimit() Limit {
	l := g.lim.PerAccount
	l.Burst += delaySteps
	return l
}

// delay is the wait for the over-th failure past PerAccount's burst.
func (g *Login) delay(over int) time.Duration {
	if over <= 0 {
		return 0
	}
	d := firstDelay
	for i := 1; i < over && d < g.lim.MaxDelay; i++ {
		d *= 2
	}
	return min(d, g.lim.MaxDelay)
}

// Wait sleeps for d, or until ctx ends.
func Wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
