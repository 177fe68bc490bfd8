package oauth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/weft-fabric/weft/access/throttle"
	"github.com/weft-fabric/weft/identity/password"
)

// fosite checks a client with a rotated secret twice in one request: the current hash,
// then the previous one. A client still using its previous secret during the overlap
// must count as one success, not as a failure per request; a wrong secret as one
// failure, not two.
func TestSecretVerifier_OneReservationPerRequest(t *testing.T) {
	h, err := password.NewHasher(password.Params{MemoryKiB: password.MinMemoryKiB, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	g, err := throttle.NewClientAuth(throttle.NewLocal(), throttle.ClientAuthLimits{
		PerClient: throttle.Limit{Rate: 1, Period: time.Hour, Burst: 4}, PerIP: throttle.Limit{Rate: 1, Period: time.Hour, Burst: 4},
		KnownFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewSecretVerifier(h, g, time.Hour, 100)
	if err != nil {
		t.Fatal(err)
	}
	current, _ := v.Hash(context.Background(), []byte("new-secret-new-secret"))
	previous, _ := v.Hash(context.Background(), []byte("old-secret-old-secret"))
	request := func(secret string) error {
		ctx := context.WithValue(context.Background(), attemptKey{}, &authAttempt{client: "rotating", ip: "192.0.2.1"})
		if err := v.Compare(ctx, current, []byte(secret)); err == nil || errors.Is(err, throttle.ErrRefused) {
			return err
		}
		return v.Compare(ctx, previous, []byte(secret))
	}
	for i := range 10 {
		if err := request("old-secret-old-secret"); err != nil {
			t.Fatalf("request %d with the previous secret: %v", i, err)
		}
	}
	for i := range 4 {
		if err := request("wrong"); !errors.Is(err, ErrSecretMismatch) {
			t.Fatalf("wrong secret %d: %v, want a mismatch (4 failures allowed)", i, err)
		}
	}
	if err := request("wrong-again"); !errors.Is(err, throttle.ErrRefused) {
		t.Fatalf("5th wrong secret: %v, want refused", err)
	}
}
