package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"
	"time"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/throttle"
	"github.com/weft-fabric/weft/identity/password"
)

// SecretVerifier checks client secrets against their argon2id hashes for fosite (it
// implements fosite.Hasher). An argon2id verification costs tens of milliseconds and
// 64 MiB, far too much for introspection and token calls that gateways make on every
// request, so outcomes are cached for a while, keyed by a SHA-256 of the stored hash and
// the presented secret: the cache never holds a secret, and changing a client's secret
// changes its hash, which retires every cached outcome for it at once.
//
// Every check that is not a cached correct secret is a failure in waiting: it is
// reserved against the client authentication throttle before anything is hashed, and
// given back when the secret is right. So a flood of wrong secrets is answered without
// hashing once the client id or the address is over its limit, while a caller whose
// correct secret is cached never meets the throttle at all.
type SecretVerifier struct {
	hasher   *password.Hasher
	throttle *throttle.ClientAuth
	ttl      time.Duration
	max      int

	mu sync.Mutex
	// Correct and wrong outcomes are kept apart, each with its bound: only someone who
	// knows a secret can add a correct one, so wrong guesses can never push a gateway's
	// verdict out and make it pay argon2id (and the throttle) again.
	right, wrong map[[32]byte]time.Time
	// checking holds the checks under way, by cache key. A check of the same secret
	// against the same hash joins the one under way instead of reserving and hashing on
	// its own: a gateway that opens fifty connections at once (a start, a new node)
	// would otherwise need fifty argon2id runs and fifty reservations, and be turned
	// away (busy, or throttled) with its correct secret. A joiner adds neither hashing
	// nor a guess, so it is not counted.
	checking map[[32]byte]*pendingCheck
}

// pendingCheck is one verification under way; err is its outcome once done is closed.
type pendingCheck struct {
	done chan struct{}
	err  error
}

// ErrSecretMismatch is returned by Compare when the secret is wrong.
var ErrSecretMismatch = errors.New("client secret does not match")

// NewSecretVerifier caches up to max outcomes of each kind for ttl each, and throttles
// failures through g.
func NewSecretVerifier(h *password.Hasher, g *throttle.ClientAuth, ttl time.Duration, max int) (*SecretVerifier, error) {
	if err := access.CheckDeps("oauth.NewSecretVerifier", map[string]bool{"Hasher": h == nil, "Throttle": g == nil}); err != nil {
		return nil, err
	}
	return &SecretVerifier{hasher: h, throttle: g, ttl: ttl, max: max,
		right: make(map[[32]byte]time.Time), wrong: make(map[[32]byte]time.Time), checking: make(map[[32]byte]*pendingCheck)}, nil
}

func cacheKey(hash, secret []byte) [32]byte {
	h := sha256.New()
	h.Write(hash)
	h.Write([]byte{0})
	h.Write(secret)
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// Compare implements fosite.Hasher: nil when secret matches hash; a
// *throttle.RefusedError when the check was refused without hashing.
//
// fosite may call it more than once for one request (a client's current secret, then
// the one a rotation replaced): the request reserves once, on its first check that is
// not a cached correct secret, and any check of it that succeeds gives the reservation
// back, so a client still using its previous secret during the overlap is never
// counted as failing.
func (v *SecretVerifier) Compare(ctx context.Context, hash, secret []byte) error {
	if len(hash) == 0 {
		return ErrSecretMismatch // public client or no secret: nothing can match
	}
	att := attemptFrom(ctx)
	att.checked()
	k := cacheKey(hash, secret)
	now := time.Now()
	v.mu.Lock()
	rightUntil, right := v.right[k]
	wrongUntil, wrong := v.wrong[k]
	fresh := right && now.Before(rightUntil)
	c, joined := v.checking[k]
	if !fresh && !joined {
		c = &pendingCheck{done: make(chan struct{})}
		v.checking[k] = c
	}
	v.mu.Unlock()
	if fresh {
		att.succeeded(ctx)
		return nil
	}
	if joined {
		select {
		case <-c.done:
		case <-ctx.Done():
			return att.undecidedBy(ctx.Err())
		}
		switch {
		case c.err == nil:
			att.succeeded(ctx)
			return nil
		case errors.Is(c.err, ErrSecretMismatch):
			return ErrSecretMismatch
		default:
			return att.undecidedBy(c.err) // refused or busy: the same answer
		}
	}
	c.err = v.check(ctx, att, k, hash, secret, wrong && now.Before(wrongUntil), now)
	v.mu.Lock()
	delete(v.checking, k)
	v.mu.Unlock()
	close(c.done)
	return c.err
}

// check reserves, hashes and caches one verification (Compare's work once it is not
// answered from the cache or by a check under way).
func (v *SecretVerifier) check(ctx context.Context, att *authAttempt, k [32]byte, hash, secret []byte, knownWrong bool, now time.Time) error {
	res, err := v.reserve(ctx, att, hash)
	if err != nil {
		return att.undecidedBy(err)
	}
	if knownWrong {
		// A wrong secret repeated costs no hashing, but counts like any failure: the
		// throttle must answer the same whether an id is a client's or nobody's.
		return ErrSecretMismatch
	}
	// Joiners wait on this run: it does not end with the first caller's request.
	err = v.hasher.Verify(context.WithoutCancel(ctx), string(secret), string(hash))
	if errors.Is(err, password.ErrBusy) || ctx.Err() != nil {
		res.Cancel(context.WithoutCancel(ctx))
		return att.undecidedBy(err) // nothing was checked: not a verdict, never cached (the caller answers 503)
	}
	if err != nil && !errors.Is(err, password.ErrMismatch) {
		return ErrSecretMismatch // a malformed stored hash never authenticates
	}
	if err == nil {
		if att != nil {
			att.succeeded(ctx)
		} else {
			_ = res.Succeeded(ctx) // a store failure is the fallback's to report
		}
		v.store(v.right, k, now)
		return nil
	}
	// Wrong secrets are cached too: a client retrying with an old secret costs one
	// argon2id run, not one per retry.
	v.store(v.wrong, k, now)
	return ErrSecretMismatch
}

// reserve returns the request's reservation, taking it on the first call. Without a
// request (att nil) each check reserves on its own, for the client its stored hash
// stands for.
func (v *SecretVerifier) reserve(ctx context.Context, att *authAttempt, hash []byte) (*throttle.Reservation, error) {
	if att == nil {
		sum := sha256.Sum256(hash)
		return v.throttle.Reserve(ctx, "hash:"+hex.EncodeToString(sum[:16]), "")
	}
	att.mu.Lock()
	defer att.mu.Unlock()
	if p := att.undecided.Load(); p != nil {
		return nil, *p // refused or busy already: the request is answered as such
	}
	if att.res == nil {
		res, err := v.throttle.Reserve(ctx, att.client, att.ip)
		if err != nil {
			return nil, err
		}
		att.res = res
	}
	return att.res, nil
}

func (v *SecretVerifier) store(m map[[32]byte]time.Time, k [32]byte, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	// Full: expired outcomes go first, then a few at random, never the whole map. A
	// cold entry costs one argon2id run, never correctness.
	access.MakeRoom(m, v.max, func(until time.Time) bool { return !now.Before(until) })
	m[k] = now.Add(v.ttl)
}

// Verified reports whether secret is a cached correct secret for hash, without hashing,
// reserving or waiting: the lean introspection path authenticates a caller with it and
// leaves every other case to fosite, which calls Compare.
func (v *SecretVerifier) Verified(hash, secret []byte) bool {
	if len(hash) == 0 {
		return false
	}
	k := cacheKey(hash, secret)
	v.mu.Lock()
	until, ok := v.right[k]
	v.mu.Unlock()
	return ok && time.Now().Before(until)
}

// Hash implements fosite.Hasher.
func (v *SecretVerifier) Hash(_ context.Context, secret []byte) ([]byte, error) {
	h, err := v.hasher.Hash(string(secret))
	return []byte(h), err
}
