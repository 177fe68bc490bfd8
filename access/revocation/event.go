package revocation

import (
	"context"
	"slices"
	"time"
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
	// Reload names node-local tables to reload from the database (forward-auth's
	// route table). It is no revocation: an event that carries only this passes by the
	// token cache and the listeners, and reaches the watchers alone.
	Reload []string `json:"reload,omitempty"`
}

// reloadOnly reports whether ev only asks for tables to be reloaded.
func (e Event) reloadOnly() bool {
	return len(e.Reload) > 0 && !e.All && !e.Durable && len(e.RequestIDs) == 0 && len(e.Signatures) == 0 &&
		len(e.SIDs) == 0 && e.Subject == "" && e.ClientID == ""
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

// Listener is a node-local cache of subjects or clients (the gate's principal cache,
// the client cache) that revocations must reach. It sees only which name to forget, not
// the event: the event's subject, then its client id (a client acting for itself is its
// tokens' subject).
type Listener interface {
	// Forget drops what is cached about name, or everything when all is set. It must
	// not block: it runs on the bus's goroutine and before a revocation is answered.
	Forget(name string, all bool)
}

// Watcher is a node-local cache that needs the whole event rather than a name:
// forward-auth's session cache drops login sessions by sid, and its route table reloads
// when an event names it in Reload (or says All, after a resync). Watch must not block:
// it runs on the bus's goroutine and before a revocation is answered.
type Watcher interface {
	Watch(ev Event)
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
