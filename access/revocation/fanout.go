package revocation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Publish implements Bus.
func (LocalBus) Publish(context.Context, Event) (Acks, error) {
	return Acks{Acknowledged: []string{}, Missing: []string{}}, nil
}

// Fresh implements Bus.
func (LocalBus) Fresh() bool { return true }

// Fanout is one node's part in the revocation fabric: it applies revocations to the
// node's memory (the token cache), publishes them to the other nodes, applies theirs,
// and follows the durable log so that nothing published while it was away is missed.
type Fanout struct {
	Node  string
	Cache *TokenCache // nil without a token cache
	// Listeners are the node's other caches that revocations must reach (the gate's
	// principal cache, the client cache): each event is applied to them as to the
	// token cache.
	Listeners []Listener
	// Watchers see every event whole, reload requests included (forward-auth's
	// session cache and route table).
	Watchers []Watcher
	// Notify, if set, hears of every revocation event this node applies (its own once
	// committed, the others' from the bus or the log): a revocation queues deliveries
	// (back-channel logout, security events) that this node's outbox worker can start
	// at once rather than at its next poll.
	Notify func()
	Bus    Bus // LocalBus on a single node; nil is the same
	Log    Log // the durable log: receipts and catch-up
	Logger *slog.Logger

	mu   sync.Mutex
	seen map[string]time.Time // revocation ids applied recently, so the log is replayed once
}

// Publish applies ev on this node, then sends it to the others and waits (bounded) for
// their acknowledgements. An event without an id gets one.
func (f *Fanout) Publish(ctx context.Context, ev Event) (Acks, error) {
	if ev.ID == "" {
		ev.ID = uuid.NewString()
	}
	ev.Origin = f.Node
	f.markSeen(ev.ID)
	f.apply(ev)
	if f.Bus == nil {
		return LocalBus{}.Publish(ctx, ev)
	}
	acks, err := f.Bus.Publish(context.WithoutCancel(ctx), ev)
	if err != nil {
		return acks, fmt.Errorf("publish revocation %s to other nodes: %w", ev.ID, err)
	}
	return acks, nil
}

// Receive implements Receiver.
func (f *Fanout) Receive(ctx context.Context, ev Event) {
	f.apply(ev)
	if f.markSeen(ev.ID) && ev.Durable {
		f.recordApplied(ctx, ev.ID, ViaBus)
	}
}

// Resync implements Receiver.
func (f *Fanout) Resync(ctx context.Context, since time.Time) error {
	// Internal invalidations (RFC 7009 revocation, refresh rotation, logout) are not
	// in the durable log; forgetting everything covers whatever was missed.
	f.apply(Event{All: true})
	return f.CatchUp(ctx, since)
}

// Fresh reports whether the node may serve what it cached.
func (f *Fanout) Fresh() bool { return f.Bus == nil || f.Bus.Fresh() }

// CatchUp applies the logged revocations since t that this node has not applied yet.
func (f *Fanout) CatchUp(ctx context.Context, t time.Time) error {
	if f.Log == nil {
		return nil
	}
	evs, err := f.Log.EventsSince(ctx, t)
	if err != nil {
		return fmt.Errorf("read the revocation log: %w", err)
	}
	for _, le := range evs {
		if !f.markSeen(le.Event.ID) {
			continue
		}
		f.apply(le.Event)
		f.recordApplied(ctx, le.Event.ID, ViaLog)
	}
	return nil
}

// Follow replays the durable log every interval, a safety net behind the bus (a
// message Redis dropped) and the only path on a single node for revocations made by
// another process on the same database (the CLI).
func (f *Fanout) Follow(ctx context.Context, interval, overlap time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			// Service are stamped before their transaction commits, possibly on
			// another node's clock: the overlap covers both, markSeen dedupes.
			if err := f.CatchUp(ctx, now.Add(-overlap)); err != nil && ctx.Err() == nil && f.Logger != nil {
				f.Logger.WarnContext(ctx, "following the revocation log failed", "error", err)
			}
		}
	}
}

// apply drops what ev names from this node's memory: the token cache, every listener
// and every watcher. A reload request reaches the watchers only.
func (f *Fanout) apply(ev Event) {
	for _, w := range f.Watchers {
		w.Watch(ev)
	}
	if ev.reloadOnly() {
		return
	}
	if f.Notify != nil && ev.Durable {
		f.Notify()
	}
	if f.Cache != nil {
		f.Cache.Apply(ev)
	}
	for _, l := range f.Listeners {
		switch {
		case ev.All:
			l.Forget("", true)
		default:
			if ev.Subject != "" {
				l.Forget(ev.Subject, false)
			}
			if ev.ClientID != "" {
				// A client acting for itself is its tokens' subject; the client cache
				// holds it under the same id.
				l.Forget(ev.ClientID, false)
			}
		}
	}
}

// markSeen records id and reports whether it is new. Ids older than ten minutes are
// forgotten (the log is replayed with a much shorter overlap).
func (f *Fanout) markSeen(id string) bool {
	if id == "" {
		return true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.seen == nil {
		f.seen = map[string]time.Time{}
	}
	if _, ok := f.seen[id]; ok {
		return false
	}
	now := time.Now()
	if len(f.seen) > 1024 {
		for k, at := range f.seen {
			if now.Sub(at) > 10*time.Minute {
				delete(f.seen, k)
			}
		}
	}
	f.seen[id] = now
	return true
}

// recordApplied writes the receipt row without holding up the caller's
// acknowledgement; only revocations in the durable log have receipts.
func (f *Fanout) recordApplied(ctx context.Context, id, via string) {
	if f.Log == nil || id == "" {
		return
	}
	at := time.Now().UTC()
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := f.Log.RecordApplied(ctx, id, f.Node, via, at); err != nil && f.Logger != nil && !errors.Is(err, context.Canceled) {
			f.Logger.WarnContext(ctx, "recording a revocation's application failed", "revocation", id, "error", err)
		}
	}()
}
