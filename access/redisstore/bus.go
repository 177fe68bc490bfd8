package redisstore

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/weft-fabric/weft/access/revocation"
)

// BusOptions tunes the bus; zero values take the defaults.
type BusOptions struct {
	// Lease is how long a ping that came back keeps the node fresh, and how long
	// Publish waits for acknowledgements (DefaultLease). Waiting at least as long as
	// the lease is what makes a missing acknowledgement safe: by the time Publish
	// returns, a node that did not acknowledge has lost the freshness it had before the
	// event was published, and regains it only by receiving a ping sent after it, that
	// is, after having applied the event.
	Lease time.Duration
	// Ping is how often the node pings itself through Redis (default 20 ms).
	Ping time.Duration
	// Heartbeat is how often the node announces itself as live (default 1 s).
	Heartbeat time.Duration
	// LiveFor is how long a heartbeat keeps a node in the set Publish waits for
	// (default 3 s).
	LiveFor time.Duration
	// Overlap is how far back of a disconnection the durable log is replayed (default
	// 1 min): revocations are stamped before they commit, and on other nodes' clocks.
	Overlap time.Duration
	// Key authenticates every message on the bus (HMAC-SHA256; at least 32 bytes,
	// derived from the key-encryption key every node shares). Anyone who can publish on
	// Redis could otherwise keep a cut-off node "fresh" with forged pings, fake the
	// acknowledgement of a node that never applied a revocation, or flush every cache
	// at will (review S3). Messages without a valid MAC are dropped.
	Key []byte
}

// DefaultLease is long enough that a node on two busy cores does not lose its lease
// between pings (at 100 ms, a saturated node fell back to the database for a moment
// every few seconds, which showed as tail latency), and short enough that a SOAR tool
// waits at most a quarter of a second for a node that is not answering.
const DefaultLease = 250 * time.Millisecond

func (o *BusOptions) defaults() {
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.Ping <= 0 {
		o.Ping = 20 * time.Millisecond
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = time.Second
	}
	if o.LiveFor <= 0 {
		o.LiveFor = 3 * time.Second
	}
	if o.Overlap <= 0 {
		o.Overlap = time.Minute
	}
}

// Bus is the revocation.Bus between nodes: Redis pub/sub for the events, each node's own
// channel for acknowledgements and for the pings that measure its freshness, and a
// sorted set of live nodes. Pub/sub delivers at most once, so whatever a node misses
// while disconnected it replays from the durable log (Receiver.Resync) before it
// counts as fresh, and while it is not fresh its cache serves nothing.
type Bus struct {
	rdb    redis.UniversalClient
	node   string
	events string // channel of revocation events
	own    string // this node's channel: pings and acknowledgements
	nodes  string // sorted set: node -> last heartbeat (unix ms)
	prefix string
	recv   revocation.Receiver
	log    *slog.Logger
	opts   BusOptions

	running atomic.Bool  // Run is subscribed (else Publish listens for acks itself)
	start   time.Time    // base of the monotonic times below
	freshAt atomic.Int64 // send time (ns since start) of the last ping received while synced
	synced  atomic.Bool  // subscribed and caught up
	forged  atomic.Int64 // messages dropped for a bad MAC

	mu      sync.Mutex
	waiters map[string]*waiter
}

var _ revocation.Bus = (*Bus)(nil)

type waiter struct {
	expect map[string]bool
	acked  []string
	done   chan struct{}
}

// NewBus returns the bus of node (a name unique among live nodes) under the key
// prefix. Run must be running for the node to receive anything.
func NewBus(rdb redis.UniversalClient, prefix, node string, recv revocation.Receiver, log *slog.Logger, opts BusOptions) (*Bus, error) {
	if len(opts.Key) < 32 {
		return nil, errors.New("redisstore.NewBus: a message key of at least 32 bytes is required")
	}
	opts.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Bus{rdb: rdb, node: node, prefix: prefix, recv: recv, log: log, opts: opts,
		events: prefix + "revocations", own: prefix + "node:" + node, nodes: prefix + "nodes",
		start: time.Now(), waiters: map[string]*waiter{}}, nil
}

// macLen is the length of the truncated MAC on each message: 128 bits is beyond
// forgery for messages that matter for a lease of a quarter second.
const macLen = 16

// seal prefixes body with its MAC, bound to the channel so that a message cannot be
// replayed on another channel (an ack as another node's ping).
func (b *Bus) seal(channel, body string) string {
	return base64.RawURLEncoding.EncodeToString(b.mac(channel, body)) + "." + body
}

// open returns the body of a sealed message, or false if its MAC does not verify.
func (b *Bus) open(channel, payload string) (string, bool) {
	tag, body, ok := strings.Cut(payload, ".")
	if !ok {
		return "", false
	}
	got, err := base64.RawURLEncoding.DecodeString(tag)
	return body, err == nil && hmac.Equal(got, b.mac(channel, body))
}

func (b *Bus) mac(channel, body string) []byte {
	m := hmac.New(sha256.New, b.opts.Key)
	m.Write([]byte(channel))
	m.Write([]byte{0})
	m.Write([]byte(body))
	return m.Sum(nil)[:macLen]
}

func (b *Bus) publish(ctx context.Context, channel, body string) error {
	return b.rdb.Publish(ctx, channel, b.seal(channel, body)).Err()
}

// Fresh implements revocation.Bus.
func (b *Bus) Fresh() bool {
	if !b.synced.Load() {
		return false
	}
	at := b.freshAt.Load()
	return at > 0 && time.Since(b.start)-time.Duration(at) < b.opts.Lease
}

// Ready reports whether the node is subscribed and has caught up: what /readyz gates on.
func (b *Bus) Ready() bool { return b.synced.Load() }

type control struct {
	Type string `json:"t"` // "ack"
	ID   string `json:"id"`
	Node string `json:"node"`
}

// Publish implements revocation.Bus.
func (b *Bus) Publish(ctx context.Context, ev revocation.Event) (revocation.Acks, error) {
	acks := revocation.Acks{Acknowledged: []string{}, Missing: []string{}}
	payload, err := json.Marshal(ev)
	if err != nil {
		return acks, err
	}
	min := strconv.FormatInt(time.Now().Add(-b.opts.LiveFor).UnixMilli(), 10)
	live, err := b.rdb.ZRangeByScore(ctx, b.nodes, &redis.ZRangeBy{Min: min, Max: "+inf"}).Result()
	if err != nil {
		return acks, fmt.Errorf("list live nodes: %w", err)
	}
	w := &waiter{expect: map[string]bool{}, done: make(chan struct{})}
	for _, n := range live {
		if n != b.node {
			w.expect[n] = true
		}
	}
	if len(w.expect) > 0 && !b.running.Load() {
		// A publisher that does not run the bus (a CLI command) still hears the acks.
		stop, err := b.listenAcks(ctx)
		if err != nil {
			return acks, err
		}
		defer stop()
	}
	b.mu.Lock()
	b.waiters[ev.ID] = w
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.waiters, ev.ID)
		b.mu.Unlock()
	}()
	began := time.Now()
	if err := b.publish(ctx, b.events, string(payload)); err != nil {
		return acks, fmt.Errorf("publish: %w", err)
	}
	if len(w.expect) > 0 {
		t := time.NewTimer(b.opts.Lease)
		select {
		case <-w.done:
		case <-t.C:
		}
		t.Stop()
	}
	acks.Waited = time.Since(began)
	b.mu.Lock()
	acks.Acknowledged = append(acks.Acknowledged, w.acked...)
	for n := range w.expect {
		if !slices.Contains(w.acked, n) {
			acks.Missing = append(acks.Missing, n)
		}
	}
	b.mu.Unlock()
	slices.Sort(acks.Acknowledged)
	slices.Sort(acks.Missing)
	return acks, nil
}

// listenAcks subscribes to this node's channel for the length of one publication.
func (b *Bus) listenAcks(ctx context.Context) (stop func(), err error) {
	ps := b.rdb.Subscribe(ctx, b.own)
	if _, err := ps.Receive(ctx); err != nil { // the subscription's confirmation
		_ = ps.Close()
		return nil, fmt.Errorf("listen for acknowledgements: %w", err)
	}
	ch := ps.Channel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range ch {
			b.handle(ctx, m)
		}
	}()
	return func() { _ = ps.Close(); <-done }, nil
}

// Run subscribes and keeps the node live and fresh until ctx ends.
func (b *Bus) Run(ctx context.Context) {
	b.running.Store(true)
	defer b.running.Store(false)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); b.pinger(ctx) }()
	go func() { defer wg.Done(); b.heartbeat(ctx) }()
	b.subscriber(ctx)
	wg.Wait()
}

func (b *Bus) subscriber(ctx context.Context) {
	ps := b.rdb.Subscribe(ctx, b.events, b.own)
	// Receive does not return on cancellation by itself; closing the subscription does.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	defer ps.Close()
	since := time.Now().Add(-b.opts.Overlap)
	for {
		msg, err := ps.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if b.synced.Swap(false) {
				b.freshAt.Store(0)
				since = time.Now().Add(-b.opts.Overlap)
				b.log.WarnContext(ctx, "revocation bus disconnected: serving from the database until caught up", "error", err)
			}
			sleep(ctx, 100*time.Millisecond) // the next Receive reconnects and resubscribes
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && m.Count == 2 && !b.synced.Load() {
				b.resync(ctx, since)
			}
		case *redis.Message:
			b.handle(ctx, m)
		}
	}
}

// resync replays what the node may have missed; messages arriving meanwhile wait in
// the subscription and are applied afterwards (applying twice is harmless).
func (b *Bus) resync(ctx context.Context, since time.Time) {
	for {
		err := b.recv.Resync(ctx, since)
		if err == nil {
			b.synced.Store(true)
			b.log.InfoContext(ctx, "revocation bus connected and caught up", "node", b.node, "since", since)
			return
		}
		b.log.WarnContext(ctx, "catching up on revocations failed; retrying", "error", err)
		if !sleep(ctx, 500*time.Millisecond) {
			return
		}
	}
}

func (b *Bus) handle(ctx context.Context, m *redis.Message) {
	payload, ok := b.open(m.Channel, m.Payload)
	if !ok {
		b.forged.Add(1)
		if b.forged.Load()%1000 == 1 { // a misconfigured node would flood the log otherwise
			b.log.ErrorContext(ctx, "dropped a revocation bus message without a valid MAC: every node must share the key-encryption key",
				"channel", m.Channel, "dropped", b.forged.Load())
		}
		return
	}
	switch {
	case m.Channel == b.own && strings.HasPrefix(payload, "p"):
		ns, err := strconv.ParseInt(payload[1:], 10, 64)
		// A ping from the future (a clock it cannot have) would keep the node fresh
		// for good: only pings this process sent count.
		if err == nil && b.synced.Load() && ns > b.freshAt.Load() && ns <= int64(time.Since(b.start)) {
			b.freshAt.Store(ns)
		}
	case m.Channel == b.own:
		var c control
		if json.Unmarshal([]byte(payload), &c) != nil || c.Type != "ack" {
			return
		}
		b.mu.Lock()
		if w, ok := b.waiters[c.ID]; ok && w.expect[c.Node] && !slices.Contains(w.acked, c.Node) {
			w.acked = append(w.acked, c.Node)
			if len(w.acked) == len(w.expect) {
				close(w.done)
			}
		}
		b.mu.Unlock()
	case m.Channel == b.events:
		var ev revocation.Event
		if err := json.Unmarshal([]byte(payload), &ev); err != nil {
			// Not ours to interpret: forgetting everything is the safe reading.
			b.log.WarnContext(ctx, "unreadable revocation event; dropping the whole cache", "error", err)
			ev = revocation.Event{All: true}
		}
		if ev.Origin == b.node {
			return // applied before it was published
		}
		b.recv.Receive(ctx, ev)
		if ev.Origin == "" || ev.ID == "" {
			return
		}
		ack, _ := json.Marshal(control{Type: "ack", ID: ev.ID, Node: b.node})
		// The origin waits on this; it must not wait behind the next event here.
		go func() {
			if err := b.publish(context.WithoutCancel(ctx), b.prefix+"node:"+ev.Origin, string(ack)); err != nil {
				b.log.WarnContext(ctx, "acknowledging a revocation failed", "revocation", ev.ID, "error", err)
			}
		}()
	}
}

func (b *Bus) pinger(ctx context.Context) {
	t := time.NewTicker(b.opts.Ping)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			sent := time.Since(b.start)
			// A failed ping just lets the lease lapse: the cache stops serving.
			_ = b.publish(ctx, b.own, "p"+strconv.FormatInt(int64(sent), 10))
		}
	}
}

func (b *Bus) heartbeat(ctx context.Context) {
	beat := func() {
		now := time.Now()
		pipe := b.rdb.Pipeline()
		pipe.ZAdd(ctx, b.nodes, redis.Z{Score: float64(now.UnixMilli()), Member: b.node})
		pipe.ZRemRangeByScore(ctx, b.nodes, "-inf", strconv.FormatInt(now.Add(-time.Hour).UnixMilli(), 10))
		if _, err := pipe.Exec(ctx); err != nil && ctx.Err() == nil {
			b.log.DebugContext(ctx, "revocation bus heartbeat failed", "error", err)
		}
	}
	beat()
	t := time.NewTicker(b.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// Leaving: others stop waiting for this node at once.
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = b.rdb.ZRem(ctx, b.nodes, b.node).Err()
			cancel()
			return
		case <-t.C:
			beat()
		}
	}
}

// LiveNodes lists the nodes whose heartbeat is recent.
func (b *Bus) LiveNodes(ctx context.Context) ([]string, error) {
	min := strconv.FormatInt(time.Now().Add(-b.opts.LiveFor).UnixMilli(), 10)
	return b.rdb.ZRangeByScore(ctx, b.nodes, &redis.ZRangeBy{Min: min, Max: "+inf"}).Result()
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
