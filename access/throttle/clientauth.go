package throttle

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// ClientAuthLimits bound failed client authentications (a wrong client secret costs an
// argon2id run of 64 MiB).
type ClientAuthLimits struct {
	// PerClient counts failures for one client id from every address: it bounds the
	// hashing an attacker spread over many addresses can cause for one client, and
	// guessing its secret.
	PerClient Limit
	// PerIP counts failures from one address for every client id; it is also the
	// limit of one client id from an address where it is known (see KnownFor).
	PerIP Limit
	// KnownFor is how long an address stays known for a client id after the client
	// authenticated from it with a secret that had to be hashed. From a known address
	// the client's own bucket for that address applies instead of PerClient, so an
	// attacker exhausting a public client id elsewhere cannot lock out a gateway whose
	// cached verdict expired or that reaches a node it has not used yet.
	KnownFor time.Duration
	// Hold is how long a refused answer waits before it is sent (never longer than
	// the refusal's retry-after); 0 answers at once. A flood tool retries the moment it
	// is answered, so answering at once multiplies its requests by how cheap a refusal
	// is: in the flood benchmark, ten times as many, competing with honest callers for
	// the CPU. Held, each of its connections is slowed to one attempt per Hold. At most
	// maxHeld answers wait at once; beyond that they go at once, so holding never
	// exhausts memory or connections.
	Hold time.Duration
}

// DefaultClientAuthLimits are the settings' defaults.
var DefaultClientAuthLimits = ClientAuthLimits{PerClient: PerMinute(60), PerIP: PerMinute(20), KnownFor: 24 * time.Hour, Hold: time.Second}

// maxHeld bounds the refused answers held at once (a goroutine and a connection each).
const maxHeld = 1024

// ClientAuth throttles failed client authentications. The rule (access/oauth applies
// it): a secret is reserved against before it is hashed, so a flood is answered without
// hashing once a bucket is empty; a correct secret gives the reservation back; a
// cached correct verdict never reserves at all, so a caller that has proved its secret
// is never slowed by someone else's wrong ones.
type ClientAuth struct {
	store   Store
	lim     ClientAuthLimits
	refused atomic.Int64
	held    chan struct{}
}

// HoldRefusal waits before a refused answer is sent (see ClientAuthLimits.Hold), until
// ctx ends at the latest.
func (g *ClientAuth) HoldRefusal(ctx context.Context, re *RefusedError) {
	d := min(g.lim.Hold, re.RetryAfter)
	if d <= 0 {
		return
	}
	select {
	case g.held <- struct{}{}:
	default:
		return // enough are waiting already
	}
	defer func() { <-g.held }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Refused is how many checks were refused since start (a metric).
func (g *ClientAuth) Refused() int64 { return g.refused.Load() }

// NewClientAuth returns the client authentication throttle over s.
func NewClientAuth(s Store, l ClientAuthLimits) (*ClientAuth, error) {
	if s == nil {
		return nil, errors.New("throttle.NewClientAuth: missing Store")
	}
	if !l.PerClient.Valid() || !l.PerIP.Valid() || l.KnownFor <= 0 {
		return nil, errors.New("throttle.NewClientAuth: every limit must be positive")
	}
	return &ClientAuth{store: s, lim: l, held: make(chan struct{}, maxHeld)}, nil
}

// Reserve takes one failure from the buckets of clientID and ip before a secret is
// verified. It returns a *RefusedError (errors.Is ErrRefused) when a bucket is empty:
// the caller answers without verifying. An unknown client id is reserved against like
// a known one, so the throttle answers the same for both. ip may be empty (no request
// behind the check): then only the client's bucket counts.
func (g *ClientAuth) Reserve(ctx context.Context, clientID, ip string) (*Reservation, error) {
	if ip == "" {
		r, err := reserve(ctx, g.store, take{key("client", clientID), g.lim.PerClient})
		if errors.Is(err, ErrRefused) {
			g.refused.Add(1)
		}
		return r, err
	}
	addr := AddressKey(ip)
	known, err := g.store.Marked(ctx, key("client-ok", clientID, addr))
	if err != nil {
		return nil, err
	}
	var r *Reservation
	if known {
		r, err = reserve(ctx, g.store, take{key("client-ip", clientID, addr), g.lim.PerIP})
	} else {
		r, err = reserve(ctx, g.store, take{key("client", clientID), g.lim.PerClient}, take{key("ip", addr), g.lim.PerIP})
	}
	if errors.Is(err, ErrRefused) {
		g.refused.Add(1)
	}
	if err != nil {
		return nil, err
	}
	r.onSuccess = func(ctx context.Context) error {
		return g.store.Mark(ctx, key("client-ok", clientID, addr), g.lim.KnownFor)
	}
	return r, nil
}
