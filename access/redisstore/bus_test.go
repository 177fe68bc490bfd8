package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/weft-fabric/weft/access/outbox"
	"github.com/weft-fabric/weft/access/redisstore"
	"github.com/weft-fabric/weft/access/revocation"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// testRedis connects to WEFT_TEST_REDIS_URL (default local) and returns a key prefix of
// the test's own, deleted afterwards.
func testRedis(t *testing.T) (*redis.Client, string) {
	t.Helper()
	u := os.Getenv("WEFT_TEST_REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		sqltest.Unavailable(t, "Redis ("+opts.Addr+")", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "weft-test:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		keys, _ := rdb.Keys(context.Background(), prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
		_ = rdb.Close()
	})
	return rdb, prefix
}

// recorder is an revocation.Receiver that records what reaches it; block, when set, holds
// Receive (a node that stalls).
type recorder struct {
	mu      sync.Mutex
	events  []revocation.Event
	resyncs []time.Time
	block   chan struct{}
}

func (r *recorder) Receive(_ context.Context, ev revocation.Event) {
	if r.block != nil {
		<-r.block
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *recorder) Resync(_ context.Context, since time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.resyncs = append(r.resyncs, since)
	return nil
}

func (r *recorder) got() ([]revocation.Event, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events), len(r.resyncs)
}

// busKey is the message key every test node shares (in production, derived from the KEK).
var busKey = []byte("0123456789abcdef0123456789abcdef")

func newBus(t *testing.T, rdb redis.UniversalClient, prefix, name string, r revocation.Receiver, opts redisstore.BusOptions) *redisstore.Bus {
	t.Helper()
	if opts.Key == nil {
		opts.Key = busKey
	}
	b, err := redisstore.NewBus(rdb, prefix, name, r, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// node starts a bus on its own Redis connection (named, so a test can cut it).
func node(t *testing.T, prefix, name string, r *recorder) (*redisstore.Bus, *redis.Client) {
	t.Helper()
	opts, _ := redis.ParseURL(redisURL())
	opts.ClientName = strings.ReplaceAll(prefix, ":", "-") + name
	rdb := redis.NewClient(opts)
	b := newBus(t, rdb, prefix, name, r, redisstore.BusOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; _ = rdb.Close() })
	eventually(t, "node "+name+" fresh", func() bool { return b.Ready() && b.Fresh() })
	return b, rdb
}

func redisURL() string {
	if u := os.Getenv("WEFT_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBus_PublishReachesAndIsAcknowledged(t *testing.T) {
	_, prefix := testRedis(t)
	ra, rb, rc := &recorder{}, &recorder{}, &recorder{}
	a, _ := node(t, prefix, "a", ra)
	node(t, prefix, "b", rb)
	node(t, prefix, "c", rc)
	eventually(t, "three live nodes", func() bool { n, _ := a.LiveNodes(context.Background()); return len(n) == 3 })

	ev := revocation.Event{ID: "rev-1", Origin: "a", Subject: "alice", SIDs: []string{"s1"}, Durable: true}
	acks, err := a.Publish(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(acks.Acknowledged, []string{"b", "c"}) || len(acks.Missing) != 0 {
		t.Fatalf("acks = %+v, want b and c, none missing", acks)
	}
	// Acknowledged means applied: both have it, as sent, before Publish returned.
	for name, r := range map[string]*recorder{"b": rb, "c": rc} {
		evs, _ := r.got()
		if len(evs) != 1 || evs[0].ID != "rev-1" || evs[0].Subject != "alice" || !evs[0].Durable || evs[0].SIDs[0] != "s1" {
			t.Fatalf("node %s received %+v", name, evs)
		}
	}
	if evs, _ := ra.got(); len(evs) != 0 {
		t.Fatalf("the origin received its own event: %+v", evs)
	}

	// Another deployment's prefix hears nothing.
	other := &recorder{}
	node(t, prefix+"other:", "x", other)
	if _, err := a.Publish(context.Background(), revocation.Event{ID: "rev-2", Origin: "a", All: true}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "rev-2 at b", func() bool { evs, _ := rb.got(); return len(evs) == 2 })
	if evs, _ := other.got(); len(evs) != 0 {
		t.Fatalf("prefixes do not keep deployments apart: %+v", evs)
	}
}

// A live node that does not acknowledge is named, Publish waits no longer than the
// lease, and the stalled node is not fresh by then.
func TestBus_StalledNodeIsMissingAndNotFresh(t *testing.T) {
	_, prefix := testRedis(t)
	a, _ := node(t, prefix, "a", &recorder{})
	slow := &recorder{}
	b, _ := node(t, prefix, "b", slow)
	eventually(t, "two live nodes", func() bool { n, _ := a.LiveNodes(context.Background()); return len(n) == 2 })
	slow.block = make(chan struct{})
	began := time.Now()
	acks, err := a.Publish(context.Background(), revocation.Event{ID: "rev-1", Origin: "a", Subject: "alice"})
	waited := time.Since(began)
	if err != nil {
		t.Fatal(err)
	}
	if len(acks.Acknowledged) != 0 || !slices.Equal(acks.Missing, []string{"b"}) {
		t.Fatalf("acks = %+v, want b missing", acks)
	}
	if waited < redisstore.DefaultLease || waited > 2*time.Second {
		t.Fatalf("Publish waited %v, want the %v lease", waited, redisstore.DefaultLease)
	}
	if b.Fresh() {
		t.Fatal("a node stuck before applying an event still counts as fresh after the lease")
	}
	close(slow.block)
	eventually(t, "b fresh again", b.Fresh)
	if evs, _ := slow.got(); len(evs) != 1 {
		t.Fatalf("b applied %d events after it resumed, want 1", len(evs))
	}
}

// A node whose connection drops is neither ready nor fresh until it has resubscribed
// and replayed the durable log from before the drop.
func TestBus_DisconnectResyncs(t *testing.T) {
	admin, prefix := testRedis(t)
	r := &recorder{}
	b, _ := node(t, prefix, "b", r)
	if _, n := r.got(); n != 1 {
		t.Fatalf("resyncs at start = %d, want 1", n)
	}
	cut := time.Now()
	name := strings.ReplaceAll(prefix, ":", "-") + "b"
	list, err := admin.ClientList(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		fields := strings.Fields(line)
		if slices.Contains(fields, "name="+name) && !slices.Contains(fields, "sub=0") {
			for _, f := range fields {
				if id, ok := strings.CutPrefix(f, "id="); ok {
					if err := admin.Do(context.Background(), "CLIENT", "KILL", "ID", id).Err(); err != nil {
						t.Fatal(err)
					}
					killed++
				}
			}
		}
	}
	if killed != 1 {
		t.Fatalf("killed %d subscriber connections, want 1:\n%s", killed, list)
	}
	eventually(t, "b to notice", func() bool { return !b.Ready() })
	if b.Fresh() {
		t.Fatal("a disconnected node counts as fresh")
	}
	eventually(t, "b back", func() bool { return b.Ready() && b.Fresh() })
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.resyncs) != 2 || !r.resyncs[1].Before(cut) {
		t.Fatalf("resyncs = %v, want a second one replaying from before %v", r.resyncs, cut)
	}
}

func TestBus_RedisDown(t *testing.T) {
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer down.Close()
	b := newBus(t, down, "weft-test:", "n", &recorder{}, redisstore.BusOptions{})
	if _, err := b.Publish(context.Background(), revocation.Event{ID: "x", All: true}); err == nil {
		t.Fatal("publishing to an unreachable Redis succeeded")
	}
	if b.Fresh() || b.Ready() {
		t.Fatal("a bus that never connected counts as fresh or ready")
	}
}

// A process that publishes without running the bus (a CLI command) still learns which
// nodes applied its revocation.
func TestBus_PublisherWithoutRun(t *testing.T) {
	rdb, prefix := testRedis(t)
	rb := &recorder{}
	b, _ := node(t, prefix, "b", rb)
	eventually(t, "b live", func() bool { n, _ := b.LiveNodes(context.Background()); return len(n) == 1 })
	cli := newBus(t, rdb, prefix, "cli", &recorder{}, redisstore.BusOptions{})
	acks, err := cli.Publish(context.Background(), revocation.Event{ID: "rev-cli", Origin: "cli", Subject: "alice", Durable: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(acks.Acknowledged, []string{"b"}) || len(acks.Missing) != 0 {
		t.Fatalf("acks = %+v, want b", acks)
	}
	if evs, _ := rb.got(); len(evs) != 1 || evs[0].ID != "rev-cli" {
		t.Fatalf("b received %+v", evs)
	}
}

// TestBus_ForgedMessagesAreDropped: anyone who can publish on Redis but lacks the key
// (review S3) can neither keep a node fresh with forged pings, nor acknowledge for a
// node, nor flush caches with forged events; a node keyed differently is not heard.
func TestBus_ForgedMessagesAreDropped(t *testing.T) {
	rdb, prefix := testRedis(t)
	ctx := context.Background()

	if _, err := redisstore.NewBus(rdb, prefix, "nokey", &recorder{}, nil, redisstore.BusOptions{}); err == nil {
		t.Fatal("NewBus accepted a bus without a message key")
	}

	// A node that never pings on its own (the first ping is an hour away) must not be
	// made fresh by pings someone else publishes on its channel: a forged one, one
	// sealed with another key, or one from the future.
	lonely := &recorder{}
	b := newBus(t, rdb, prefix, "lonely", lonely, redisstore.BusOptions{Ping: time.Hour})
	bctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { b.Run(bctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	eventually(t, "lonely subscribed", b.Ready)
	own := prefix + "node:lonely"
	wrongKey := newBus(t, rdb, prefix, "lonely", &recorder{}, redisstore.BusOptions{Key: []byte("another key, another deployment..")})
	for _, payload := range []string{
		"p1", "p999999999999999999", // unsigned, as before the key
		wrongKey.SealForTest(own, "p1"),
		redisstore.SealWith(busKey, own, "p999999999999999999"), // right key, from the future
	} {
		if err := rdb.Publish(ctx, own, payload).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// Events on the events channel, unsigned or wrongly keyed, never reach the node.
	for _, payload := range []string{`{"all":true,"origin":"mallory","id":"x"}`,
		wrongKey.SealForTest(prefix+"revocations", `{"all":true,"origin":"mallory","id":"y"}`)} {
		if err := rdb.Publish(ctx, prefix+"revocations", payload).Err(); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if b.Fresh() {
		t.Fatal("forged pings made a node fresh that never pinged itself")
	}
	if evs, _ := lonely.got(); len(evs) != 0 {
		t.Fatalf("forged events reached the node: %+v", evs)
	}

	// A forged acknowledgement does not make a silent node count as acknowledged.
	a := newBus(t, rdb, prefix, "a", &recorder{}, redisstore.BusOptions{})
	if err := rdb.ZAdd(ctx, prefix+"nodes", redis.Z{Score: float64(time.Now().Add(time.Hour).UnixMilli()), Member: "ghost"}).Err(); err != nil {
		t.Fatal(err)
	}
	sub := rdb.Subscribe(ctx, prefix+"revocations")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	go func() {
		// Mallory sees the event go by and acknowledges it as the ghost node.
		for m := range sub.Channel() {
			_, body, _ := strings.Cut(m.Payload, ".")
			var ev revocation.Event
			if json.Unmarshal([]byte(body), &ev) == nil && ev.ID == "rev-forged-ack" {
				rdb.Publish(ctx, prefix+"node:a", `{"t":"ack","id":"rev-forged-ack","node":"ghost"}`)
				rdb.Publish(ctx, prefix+"node:a", wrongKey.SealForTest(prefix+"node:a", `{"t":"ack","id":"rev-forged-ack","node":"ghost"}`))
			}
		}
	}()
	acks, err := a.Publish(ctx, revocation.Event{ID: "rev-forged-ack", Origin: "a", Subject: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(acks.Acknowledged, "ghost") || !slices.Contains(acks.Missing, "ghost") {
		t.Fatalf("acks = %+v, want ghost missing", acks)
	}
}

// A revocation published on one node wakes another node's outbox worker: the node's
// Fanout hears it on the bus and notifies, so deliveries it queued go at once there too.
func TestBus_RevocationWakesOtherNodesOutbox(t *testing.T) {
	_, prefix := testRedis(t)
	a, _ := node(t, prefix, "a", &recorder{})
	woken := outbox.NewSignal()
	changed := woken.Changed()
	fb := &revocation.Fanout{Node: "b", Notify: woken.Notify}
	opts, _ := redis.ParseURL(redisURL())
	rdb := redis.NewClient(opts)
	b := newBus(t, rdb, prefix, "b", fb, redisstore.BusOptions{})
	fb.Bus = b
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; _ = rdb.Close() })
	eventually(t, "node b fresh", func() bool { return b.Ready() && b.Fresh() })
	eventually(t, "two live nodes", func() bool { n, _ := a.LiveNodes(context.Background()); return len(n) == 2 })

	if _, err := a.Publish(context.Background(), revocation.Event{ID: "rev-w", Origin: "a", SIDs: []string{"s1"}, Durable: true}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("node b's outbox was not woken by a revocation from node a")
	}
}
