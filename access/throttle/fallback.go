package throttle

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// Fallback is a shared Store (Redis) with a Local one behind it. When the shared store
// fails, the attempt is counted locally instead: the limits then hold per node (an
// attacker spread over n nodes gets n times the limit) until Redis is back.
//
// This is deliberately neither fail-closed nor fail-open. Failing closed would turn a
// Redis outage into nobody being able to sign in or authenticate a client; failing open
// would turn it into unlimited guessing and unbounded argon2id work, which is exactly
// when an attacker would strike. Every failure is counted (Errors, the
// weft_throttle_store_errors_total metric) and logged at most every logEvery.
type Fallback struct {
	Shared Store
	Local  Store
	Logger *slog.Logger

	errors  atomic.Int64
	lastLog atomic.Int64 // unix nanoseconds of the last warning
}

var _ Store = (*Fallback)(nil)

// logEvery bounds the warnings of an outage to one per interval.
const logEvery = 10 * time.Second

// NewFallback puts local behind shared.
func NewFallback(shared, local Store, log *slog.Logger) *Fallback {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Fallback{Shared: shared, Local: local, Logger: log}
}

// Errors is how many operations fell back since start.
func (f *Fallback) Errors() int64 { return f.errors.Load() }

func (f *Fallback) failed(ctx context.Context, op string, err error) {
	f.errors.Add(1)
	now := time.Now().UnixNano()
	last := f.lastLog.Load()
	if now-last >= int64(logEvery) && f.lastLog.CompareAndSwap(last, now) {
		f.Logger.WarnContext(ctx, "shared throttle store failed; limiting on this node only until it is back",
			"op", op, "error", err.Error(), "failures_so_far", f.errors.Load())
	}
}

// Take implements Store.
func (f *Fallback) Take(ctx context.Context, key string, l Limit, n int) (Result, error) {
	r, err := f.Shared.Take(ctx, key, l, n)
	if err != nil {
		f.failed(ctx, "take", err)
		return f.Local.Take(ctx, key, l, n)
	}
	return r, nil
}

// Give implements Store. A token taken from Redis and given back locally (Redis failed
// in between) stays spent in Redis: the error is on the side of throttling.
func (f *Fallback) Give(ctx context.Context, key string, l Limit, n int) error {
	if err := f.Shared.Give(ctx, key, l, n); err != nil {
		f.failed(ctx, "give", err)
		return f.Local.Give(ctx, key, l, n)
	}
	return nil
}

// Mark implements Store.
func (f *Fallback) Mark(ctx context.Context, key string, ttl time.Duration) error {
	if err := f.Shared.Mark(ctx, key, ttl); err != nil {
		f.failed(ctx, "mark", err)
		return f.Local.Mark(ctx, key, ttl)
	}
	return nil
}

// Marked implements Store: a mark is found in either, so a mark made locally during an
// outage still counts once Redis is back.
func (f *Fallback) Marked(ctx context.Context, key string) (bool, error) {
	ok, err := f.Shared.Marked(ctx, key)
	if err != nil {
		f.failed(ctx, "marked", err)
	}
	if ok {
		return true, nil
	}
	return f.Local.Marked(ctx, key)
}
