package password

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// The pool runs at most its slots at once; a caller that finds them taken waits, then
// gets ErrBusy (counted), or its slot if one frees up in time; a cancelled caller leaves.
func TestPool(t *testing.T) {
	p := newPool(2, 50*time.Millisecond)
	release := make(chan struct{})
	var started sync.WaitGroup
	for i := 0; i < 2; i++ {
		started.Add(1)
		go func() { _ = p.do(context.Background(), func() { started.Done(); <-release }) }()
	}
	started.Wait()
	if err := p.do(context.Background(), func() { t.Error("ran beyond the slots") }); !errors.Is(err, ErrBusy) {
		t.Fatalf("third caller: %v, want ErrBusy", err)
	}
	if p.rejected.Load() != 1 || p.waiting.Load() != 0 {
		t.Fatalf("rejected %d waiting %d", p.rejected.Load(), p.waiting.Load())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.do(ctx, func() { t.Error("a cancelled caller ran") }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: %v", err)
	}
	// A slot freed during the wait is taken.
	go func() { time.Sleep(10 * time.Millisecond); close(release) }()
	ran := false
	if err := p.do(context.Background(), func() { ran = true }); err != nil || !ran {
		t.Fatalf("after a release: %v, ran %v", err, ran)
	}
}

// Hasher.Verify goes through the pool: a saturated pool answers ErrBusy without checking,
// a free one checks.
func TestHasher_VerifyBounded(t *testing.T) {
	h, err := NewHasher(Params{MemoryKiB: MinMemoryKiB, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, WithPool(1, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	phc, err := h.Hash("right-secret")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Verify(context.Background(), "right-secret", phc); err != nil {
		t.Fatal(err)
	}
	if err := h.Verify(context.Background(), "wrong", phc); !errors.Is(err, ErrMismatch) {
		t.Fatalf("wrong secret: %v", err)
	}
	h.pool.slots <- struct{}{} // someone else's run holds the only slot
	if err := h.Verify(context.Background(), "right-secret", phc); !errors.Is(err, ErrBusy) {
		t.Fatalf("saturated: %v, want ErrBusy", err)
	}
	if s := h.Stats(); s.Slots != 1 || s.InUse != 1 || s.Rejected != 1 {
		t.Fatalf("stats %+v", s)
	}
	<-h.pool.slots
}
