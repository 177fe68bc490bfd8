package revocation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Event is what the fan-out bus carries from the node that revoked to every
// other node: enough for each to drop what it holds in memory about the revoked
// tokens. The database already holds the truth; the event only keeps caches honest.
type Event struct {
	ID         string   `json:"id"`                    // the revocation's id, or a fresh one for internal invalidations
	Origin     string   `json:"origin"`                // the publishing node
	All        bool     `json:"all,omitempty"`         // drop everything
	RequestIDs []string `json:"request_ids,omitempty"` // grants (fosite request ids)
	Signatures []string `json:"signatures,omitempty"`  // single access tokens (their HMAC signatures, not the tokens)
	SIDs       []string `json:"sids,omitempty"`        // login sessions
	Subject    string   `json:"subject,omitempty"`     // user or machine identity (or client, for its own tokens)
	ClientID   string   `json:"client_id,omitempty"`
	// Durable marks a revocation recorded in the durable log, which has a receipt.
	Durable bool `json:"durable,omitempty"`
}

// matches reports whether the event reaches a token with these attributes.
func (e Event) matches(signature, requestID, sid, subject, clientID string) bool {
	return e.All ||
		slices.Contains(e.Signatures, signature) ||
		requestID != "" && slices.Contains(e.RequestIDs, requestID) ||
		sid != "" && slices.Contains(e.SIDs, sid) ||
		subject != "" && e.Subject == subject ||
		clientID != "" && e.ClientID == clientID
}

// Acks is what a publication learned about the other live nodes.
type Acks struct {
	// Acknowledged lists the nodes that applied the event before Publish returned.
	Acknowledged []string `json:"acknowledged"`
	// Missing lists live nodes that did not acknowledge in time. Until they have caught
	// up they serve nothing from memory (their lease on the bus has lapsed by the time
	// Publish returns), so they cannot accept the revoked token either.
	Missing []string `json:"missing"`
	// Waited is how long Publish waited for acknowledgements.
	Waited time.Duration `json:"-"`
}

// Bus carries revocation events between nodes: Redis pub/sub for many nodes
// (access/redisstore), nothing for the embedded single node.
type Bus interface {
	// Publish sends ev to every other node and waits, bounded, for the live ones to
	// acknowledge having applied it.
	Publish(ctx context.Context, ev Event) (Acks, error)
	// Fresh reports whether this node has applied every event published until shortly
	// before now, so that what it cached may be served.
	Fresh() bool
}

// LocalBus is the Bus of a single node (the embedded default): there is no other node
// to tell, and the node applies every event itself before Publish is called, so it is
// always fresh.
type LocalBus struct{}

// Publish implements Bus.
func (LocalBus) Publish(context.Context, Event) (Acks, error) {
	return Acks{Acknowledged: []string{}, Missing: []string{}}, nil
}

// Fresh implements Bus.
func (LocalBus) Fresh() bool { return true }

// Listener is a node-local cache that revocation events must reach.
type Listener interface {
	// Apply drops what ev names. It must not block: it runs on the bus's goroutine and
	// before a revocation is answered.
	Apply(ev Event)
}

// Receiver is the node's side of the bus: what a Bus calls when events arrive.
type Receiver interface {
	// Receive applies an event published by another node.
	Receive(ctx context.Context, ev Event)
	// Resync runs after the bus (re)connects, before the node counts as fresh again:
	// events published meanwhile may be lost, so it forgets everything cached and
	// replays the durable log since since.
	Resync(ctx context.Context, since time.Time) error
}

// Log is the durable side of the fabric: every revocation's event, and which
// node applied it when (the receipt).
type Log interface {
	// EventsSince returns revocations recorded at or after t, oldest first.
	EventsSince(ctx context.Context, t time.Time) ([]LoggedEvent, error)
	// RecordApplied notes that node applied revocation id at at, by via; idempotent.
	RecordApplied(ctx context.Context, id, node, via string, at time.Time) error
	// RecordFanout stores what the publishing node learned about the other nodes.
	RecordFanout(ctx context.Context, id string, acks Acks) error
	// Applications lists the nodes that applied revocation id.
	Applications(ctx context.Context, id string) ([]NodeApplication, error)
}

// LoggedEvent is a revocation event as the durable log holds it.
type LoggedEvent struct {
	Event     Event
	CreatedAt time.Time
}

// NodeApplication is one node's application of a revocation, for the receipt.
type NodeApplication struct {
	Node      string    `json:"node"`
	AppliedAt time.Time `json:"applied_at"`
	Via       string    `json:"via"` // origin, bus or log (a catch-up)
}

// How a node came to apply a revocation.
const (
	ViaOrigin = "origin"
	ViaBus    = "bus"
	ViaLog    = "log"
)

// Fanout is one node's part in the revocation fabric: it applies revocations to the
// node's memory (the token cache), publishes them to the other nodes, applies theirs,
// and follows the durable log so that nothing published while it was away is missed.
type Fanout struct {
	Node  string
	Cache *TokenCache // nil without a token cache
	// Listeners are the node's other caches that revocations must reach (the gate's
	// principal cache): each event is applied to them as to the token cache.
	Listeners []Listener
	Bus       Bus // LocalBus on a single node; nil is the same
	Log       Log // the durable log: receipts and catch-up
	Logger    *slog.Logger

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
				f.Logger.Warn("following the revocation log failed", "error", err)
			}
		}
	}
}

// apply drops what ev names from this node's memory: the token cache and every listener.
func (f *Fanout) apply(ev Event) {
	if f.Cache != nil {
		f.Cache.Apply(ev)
	}
	for _, l := range f.Listeners {
		l.Apply(ev)
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
			f.Logger.Warn("recording a revocation's application failed", "revocation", id, "error", err)
		}
	}()
}
