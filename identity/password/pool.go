package password

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"time"
)

// ErrBusy means every hashing slot stayed taken for the whole wait: the caller should
// answer 503 with Retry-After, not fail the credential.
var ErrBusy = errors.New("password hashing is saturated; try again shortly")

// pool bounds how many argon2id runs execute at once. Each run holds its memory (64 MiB
// at the default parameters) for about 30 ms, so an unbounded burst of wrong secrets (200
// at once drove one process to 12.7 GB) exhausts the machine; with the pool the memory
// is slots x the parameter, and callers past it queue briefly, then get ErrBusy.
type pool struct {
	slots    chan struct{}
	wait     time.Duration
	waiting  atomic.Int64
	rejected atomic.Int64
}

func newPool(size int, wait time.Duration) *pool {
	if size < 1 {
		size = 1
	}
	return &pool{slots: make(chan struct{}, size), wait: wait}
}

// do runs fn in a slot, waiting at most p.wait (or until ctx ends) for one.
func (p *pool) do(ctx context.Context, fn func()) error {
	select {
	case p.slots <- struct{}{}:
	default:
		p.waiting.Add(1)
		t := time.NewTimer(p.wait)
		select {
		case p.slots <- struct{}{}:
			p.waiting.Add(-1)
			t.Stop()
		case <-t.C:
			p.waiting.Add(-1)
			p.rejected.Add(1)
			return ErrBusy
		case <-ctx.Done():
			p.waiting.Add(-1)
			t.Stop()
			return ctx.Err()
		}
	}
	defer func() { <-p.slots }()
	fn()
	return nil
}

// Stats is what the pool reports for metrics.
type Stats struct {
	Slots    int   // runs allowed at once
	InUse    int   // runs now
	Waiting  int64 // callers queued for a slot now
	Rejected int64 // callers given ErrBusy since start
}

// DefaultSlots is the pool size: one run per core; argon2id with p=2 uses two lanes, but
// more runs than cores only add memory, not throughput.
func DefaultSlots() int { return runtime.GOMAXPROCS(0) }

// DefaultWait is how long a caller queues for a slot: long enough to ride out a burst of
// honest logins, short enough that a flood is answered 503 at once.
const DefaultWait = 500 * time.Millisecond
