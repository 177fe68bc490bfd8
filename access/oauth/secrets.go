package oauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"time"

	"github.com/weft-fabric/weft/identity/password"
)

// SecretVerifier checks client secrets against their argon2id hashes for fosite (it
// implements fosite.Hasher). An argon2id verification costs tens of milliseconds and
// 64 MiB, far too much for introspection and token calls that gateways make on every
// request, so outcomes are cached for a while, keyed by a SHA-256 of the stored hash and
// the presented secret: the cache never holds a secret, and changing a client's secret
// changes its hash, which retires every cached outcome for it at once.
type SecretVerifier struct {
	hasher *password.Hasher
	ttl    time.Duration
	max    int

	mu      sync.Mutex
	entries map[[32]byte]verdict
}

type verdict struct {
	ok      bool
	expires time.Time
}

// ErrSecretMismatch is returned by Compare when the secret is wrong.
var ErrSecretMismatch = errors.New("client secret does not match")

// NewSecretVerifier caches up to max outcomes for ttl each.
func NewSecretVerifier(h *password.Hasher, ttl time.Duration, max int) *SecretVerifier {
	return &SecretVerifier{hasher: h, ttl: ttl, max: max, entries: make(map[[32]byte]verdict)}
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

// Compare implements fosite.Hasher: nil when secret matches hash.
func (v *SecretVerifier) Compare(ctx context.Context, hash, secret []byte) error {
	if len(hash) == 0 {
		return ErrSecretMismatch // public client or no secret: nothing can match
	}
	k := cacheKey(hash, secret)
	now := time.Now()
	v.mu.Lock()
	e, hit := v.entries[k]
	v.mu.Unlock()
	if hit && now.Before(e.expires) {
		return result(e.ok)
	}
	err := v.hasher.Verify(ctx, string(secret), string(hash))
	if errors.Is(err, password.ErrBusy) || ctx.Err() != nil {
		return err // nothing was checked: not a verdict, never cached (the caller answers 503)
	}
	if err != nil && !errors.Is(err, password.ErrMismatch) {
		return ErrSecretMismatch // a malformed stored hash never authenticates
	}
	// Wrong secrets are cached too: otherwise each guess would cost us a full argon2id
	// run, an easy way to burn the CPU of every node.
	v.store(k, verdict{ok: err == nil, expires: now.Add(v.ttl)}, now)
	return result(err == nil)
}

func result(ok bool) error {
	if ok {
		return nil
	}
	return ErrSecretMismatch
}

func (v *SecretVerifier) store(k [32]byte, e verdict, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.entries) >= v.max {
		// Drop expired outcomes first; if the cache is still full, start afresh. A cold
		// cache costs latency, never correctness.
		for key, old := range v.entries {
			if !now.Before(old.expires) {
				delete(v.entries, key)
			}
		}
		if len(v.entries) >= v.max {
			clear(v.entries)
		}
	}
	v.entries[k] = e
}

// Hash implements fosite.Hasher.
func (v *SecretVerifier) Hash(_ context.Context, secret []byte) ([]byte, error) {
	h, err := v.hasher.Hash(string(secret))
	return []byte(h), err
}
