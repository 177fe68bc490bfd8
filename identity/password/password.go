// Package password hashes and verifies secrets with argon2id (RFC 9106) and encodes
// them as PHC strings: $argon2id$v=19$m=65536,t=1,p=2$<salt>$<hash>, base64 without
// padding. The parameters travel with each hash, so raising them later only affects new
// hashes, and NeedsRehash tells when an old one should be upgraded at next login.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
)

// Params are the argon2id cost parameters.
type Params struct {
	MemoryKiB uint32 // memory in KiB
	Time      uint32 // passes over memory
	Threads   uint8  // lanes
	SaltLen   uint32 // bytes of random salt
	KeyLen    uint32 // bytes of derived key
}

// DefaultParams: 64 MiB, one pass, two lanes. RFC 9106 section 4 and OWASP both accept
// 64 MiB with t=1; on a 2-core machine it costs about 30 ms, which is fine for a login
// and far too slow for a per-request check (verified client secrets are cached upstream).
var DefaultParams = Params{MemoryKiB: 64 * 1024, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32}

// Limits protect against hashes (from a fabric file or a database) that would make a
// single verification take seconds or gigabytes: each of the pool's slots may hold one
// such run, and one wrong password against an account with a 4 GiB hash was an instant
// out-of-memory (review S2). 1 GiB and 16 passes leave room for any parameters RFC 9106
// or OWASP recommend for interactive logins.
const (
	MinMemoryKiB = 8 * 1024
	MaxMemoryKiB = 1024 * 1024
	MaxTime      = 16
	MaxLen       = 1024 // longest secret accepted, in bytes
)

var (
	// ErrMismatch: the secret does not match the hash.
	ErrMismatch = errors.New("password does not match")
	// ErrMalformedHash: the stored or supplied hash is not an argon2id PHC string we accept.
	ErrMalformedHash = errors.New("malformed argon2id hash")
)

// Validate reports whether the parameters are within sane bounds.
func (p Params) Validate() error {
	switch {
	case p.MemoryKiB < MinMemoryKiB || p.MemoryKiB > MaxMemoryKiB:
		return fmt.Errorf("memory must be between %d and %d KiB", MinMemoryKiB, MaxMemoryKiB)
	case p.Time < 1 || p.Time > MaxTime:
		return fmt.Errorf("time (iterations) must be between 1 and %d", MaxTime)
	case p.Threads < 1:
		return errors.New("threads (parallelism) must be at least 1")
	case p.MemoryKiB < 8*uint32(p.Threads):
		return errors.New("memory must be at least 8 KiB per thread")
	case p.SaltLen < 16 || p.SaltLen > 64:
		return errors.New("salt length must be between 16 and 64 bytes")
	case p.KeyLen < 16 || p.KeyLen > 64:
		return errors.New("key length must be between 16 and 64 bytes")
	}
	return nil
}

// Hasher hashes and verifies with fixed parameters, at most DefaultSlots() runs at once
// (see pool): every argon2id run a request can cause goes through it.
type Hasher struct {
	params Params
	pool   *pool
}

// Option changes a Hasher's defaults.
type Option func(*Hasher)

// WithPool sets how many runs may execute at once and how long a verification waits
// for a slot before ErrBusy (defaults: DefaultSlots, DefaultWait).
func WithPool(slots int, wait time.Duration) Option {
	return func(h *Hasher) { h.pool = newPool(slots, wait) }
}

// NewHasher validates p.
func NewHasher(p Params, opts ...Option) (*Hasher, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("argon2id parameters: %w", err)
	}
	h := &Hasher{params: p, pool: newPool(DefaultSlots(), DefaultWait)}
	for _, o := range opts {
		o(h)
	}
	return h, nil
}

// Verify is the package's Verify through the hasher's bounded pool: nil, ErrMismatch,
// ErrMalformedHash, or ErrBusy (no slot within the wait; nothing was checked).
func (h *Hasher) Verify(ctx context.Context, secret, phc string) error {
	err := ErrMismatch
	if perr := h.pool.do(ctx, func() { err = Verify(secret, phc) }); perr != nil {
		return perr
	}
	return err
}

// Stats reports the pool's state, for metrics.
func (h *Hasher) Stats() Stats {
	return Stats{Slots: cap(h.pool.slots), InUse: len(h.pool.slots), Waiting: h.pool.waiting.Load(), Rejected: h.pool.rejected.Load()}
}

// Params returns the parameters new hashes use.
func (h *Hasher) Params() Params { return h.params }

// Hash returns the PHC string of secret under a fresh random salt.
func (h *Hasher) Hash(secret string) (string, error) {
	if len(secret) > MaxLen {
		return "", fmt.Errorf("secret longer than %d bytes", MaxLen)
	}
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("read salt: %w", err)
	}
	var key []byte
	// Hashing is bounded like verifying, but waits for its slot: it is an
	// administrator's write (a new password or secret), never an anonymous flood.
	h.pool.slots <- struct{}{}
	key = argon2.IDKey([]byte(secret), salt, h.params.Time, h.params.MemoryKiB, h.params.Threads, h.params.KeyLen)
	<-h.pool.slots
	return encode(h.params, salt, key), nil
}

// Verify checks secret against a PHC hash in constant time with respect to the key.
// It returns nil, ErrMismatch, or ErrMalformedHash.
func Verify(secret, phc string) error {
	p, salt, key, err := Decode(phc)
	if err != nil {
		return err
	}
	if len(secret) > MaxLen {
		return ErrMismatch
	}
	got := argon2.IDKey([]byte(secret), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(key)))
	if subtle.ConstantTimeCompare(got, key) != 1 {
		return ErrMismatch
	}
	return nil
}

// NeedsRehash reports whether phc was made with parameters other than h's.
func (h *Hasher) NeedsRehash(phc string) bool {
	p, salt, key, err := Decode(phc)
	if err != nil {
		return true
	}
	return p.MemoryKiB != h.params.MemoryKiB || p.Time != h.params.Time || p.Threads != h.params.Threads ||
		uint32(len(salt)) != h.params.SaltLen || uint32(len(key)) != h.params.KeyLen
}

// Dummy returns a valid hash of a random secret. Verifying against it costs what a real
// verification costs, so "no such user" and "wrong password" take the same time.
func (h *Hasher) Dummy() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	s, _ := h.Hash(base64.RawStdEncoding.EncodeToString(b[:]))
	return s
}

func encode(p Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Decode parses an argon2id PHC string and checks its parameters against the limits
// above, so that a hostile hash cannot exhaust memory or CPU.
func Decode(phc string) (Params, []byte, []byte, error) {
	var p Params
	parts := strings.Split(phc, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return p, nil, nil, ErrMalformedHash
	}
	seen := map[string]bool{}
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || seen[k] {
			return p, nil, nil, ErrMalformedHash
		}
		seen[k] = true
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return p, nil, nil, ErrMalformedHash
		}
		switch k {
		case "m":
			p.MemoryKiB = uint32(n)
		case "t":
			p.Time = uint32(n)
		case "p":
			if n > 255 {
				return p, nil, nil, ErrMalformedHash
			}
			p.Threads = uint8(n)
		default:
			return p, nil, nil, ErrMalformedHash
		}
	}
	if len(seen) != 3 {
		return p, nil, nil, ErrMalformedHash
	}
	b64 := base64.RawStdEncoding.Strict()
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return p, nil, nil, ErrMalformedHash
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil {
		return p, nil, nil, ErrMalformedHash
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	if err := p.Validate(); err != nil {
		return p, nil, nil, fmt.Errorf("%w: %v", ErrMalformedHash, err)
	}
	return p, salt, key, nil
}
