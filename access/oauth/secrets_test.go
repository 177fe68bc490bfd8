package oauth_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/weft-fabric/weft/access/oauth"
	"github.com/weft-fabric/weft/access/throttle"

	"github.com/weft-fabric/weft/identity/password"
)

// newVerifier is a verifier whose throttle never gets in the way.
func newVerifier(t testing.TB, h *password.Hasher, ttl time.Duration, max int) *oauth.SecretVerifier {
	t.Helper()
	g, err := throttle.NewClientAuth(throttle.NewLocal(), throttle.ClientAuthLimits{
		PerClient: throttle.PerMinute(1 << 20), PerIP: throttle.PerMinute(1 << 20), KnownFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	v, err := oauth.NewSecretVerifier(h, g, ttl, max)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSecretVerifier(t *testing.T) {
	h, err := password.NewHasher(password.Params{MemoryKiB: password.MinMemoryKiB, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, h, time.Minute, 3)
	ctx := context.Background()
	hash, err := v.Hash(ctx, []byte("demo-web-secret"))
	if err != nil {
		t.Fatal(err)
	}
	if password.Verify("demo-web-secret", string(hash)) != nil {
		t.Fatal("Hash does not produce an argon2id hash of the secret")
	}
	for i := 0; i < 2; i++ { // second round is served from the cache
		if err := v.Compare(ctx, hash, []byte("demo-web-secret")); err != nil {
			t.Fatalf("round %d: right secret rejected: %v", i, err)
		}
		if err := v.Compare(ctx, hash, []byte("wrong-secret")); !errors.Is(err, oauth.ErrSecretMismatch) {
			t.Fatalf("round %d: wrong secret = %v", i, err)
		}
	}
	// A cached success for one hash says nothing about another hash (secret rotated).
	other, _ := v.Hash(ctx, []byte("another-secret"))
	if err := v.Compare(ctx, other, []byte("demo-web-secret")); !errors.Is(err, oauth.ErrSecretMismatch) {
		t.Fatalf("old secret accepted against the new hash: %v", err)
	}
	// Eviction keeps working past the bound.
	for i := 0; i < 10; i++ {
		_ = v.Compare(ctx, hash, []byte(fmt.Sprintf("guess-%d", i)))
	}
	if err := v.Compare(ctx, hash, []byte("demo-web-secret")); err != nil {
		t.Fatalf("after eviction: %v", err)
	}
	for _, bad := range [][]byte{nil, []byte("plaintext"), []byte("$argon2id$v=19$m=1,t=1,p=1$x$y")} {
		if err := v.Compare(ctx, bad, []byte("plaintext")); !errors.Is(err, oauth.ErrSecretMismatch) {
			t.Fatalf("Compare against %q = %v, want mismatch", bad, err)
		}
	}
}

func TestSecretVerifier_Expiry(t *testing.T) {
	h, _ := password.NewHasher(password.Params{MemoryKiB: password.MinMemoryKiB, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	v := newVerifier(t, h, time.Nanosecond, 10)
	hash, _ := v.Hash(context.Background(), []byte("s3cret-s3cret"))
	for i := 0; i < 3; i++ {
		if err := v.Compare(context.Background(), hash, []byte("s3cret-s3cret")); err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkSecretVerifier_Cached is the steady-state cost of authenticating a client
// (introspection caller, token endpoint), against BenchmarkSecretVerifier_Uncached.
func BenchmarkSecretVerifier_Cached(b *testing.B) {
	h, _ := password.NewHasher(password.DefaultParams)
	v := newVerifier(b, h, time.Hour, 1000)
	ctx := context.Background()
	hash, _ := v.Hash(ctx, []byte("demo-gateway-secret"))
	_ = v.Compare(ctx, hash, []byte("demo-gateway-secret"))
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Compare(ctx, hash, []byte("demo-gateway-secret")); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSecretVerifier_Uncached(b *testing.B) {
	h, _ := password.NewHasher(password.DefaultParams)
	v := newVerifier(b, h, 0, 1000)
	ctx := context.Background()
	hash, _ := v.Hash(ctx, []byte("demo-gateway-secret"))
	for b.Loop() {
		if err := v.Compare(ctx, hash, []byte("demo-gateway-secret")); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSecretVerifier_ConcurrentChecksShareOneRun: a gateway opening many connections at
// once presents its (uncached) secret many times at once. With one hashing slot and a
// 1 ms wait, separate runs would be turned away as busy, and with a throttle that lets
// one failure in, separate reservations as throttled; joined, every check succeeds.
func TestSecretVerifier_ConcurrentChecksShareOneRun(t *testing.T) {
	h, err := password.NewHasher(password.Params{MemoryKiB: password.MinMemoryKiB, Time: 4, Threads: 1, SaltLen: 16, KeyLen: 32},
		password.WithPool(1, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	one := throttle.Limit{Rate: 1, Period: time.Hour, Burst: 1}
	g, err := throttle.NewClientAuth(throttle.NewLocal(), throttle.ClientAuthLimits{PerClient: one, PerIP: one, KnownFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	v, err := oauth.NewSecretVerifier(h, g, time.Minute, 100)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := v.Hash(context.Background(), []byte("gateway-secret-123"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	start := make(chan struct{})
	errs := make(chan error, n)
	for range n {
		go func() {
			<-start
			errs <- v.Compare(context.Background(), hash, []byte("gateway-secret-123"))
		}()
	}
	close(start)
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("a concurrent check of the right secret failed: %v", err)
		}
	}
	if r := h.Stats().Rejected; r != 0 {
		t.Fatalf("%d checks were turned away by the pool", r)
	}
}
