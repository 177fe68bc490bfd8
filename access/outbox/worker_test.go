package outbox_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/weft-fabric/weft/access/outbox"
	"github.com/weft-fabric/weft/access/outbox/outboxtest"
	accsql "github.com/weft-fabric/weft/access/sqlstore"
	"github.com/weft-fabric/weft/identity/sqlstore/sqltest"
)

// audits records audit entries.
type audits struct {
	mu      sync.Mutex
	entries []map[string]any
}

func (a *audits) Record(_ context.Context, kind, _, _ string, detail map[string]any) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	d := map[string]any{"kind": kind}
	for k, v := range detail {
		d[k] = v
	}
	a.entries = append(a.entries, d)
	return nil
}

func (a *audits) outcomes(message string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, e := range a.entries {
		if e["message"] == message {
			out = append(out, fmt.Sprint(e["outcome"]))
		}
	}
	return out
}

// post is a deliverer that POSTs to the message's target: 2xx is delivered.
func post(ctx context.Context, m outbox.Message) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.Target, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("answered %d", resp.StatusCode)
	}
	return nil
}

// env is an outbox on a real SQLite database.
type env struct {
	t     *testing.T
	store *accsql.Outbox
	audit *audits
	now   time.Time
}

func newEnv(t *testing.T) *env { return newEnvOn(t, sqltest.SQLite) }

func newEnvOn(t *testing.T, b sqltest.Backend) *env {
	return &env{t: t, store: accsql.NewOutbox(sqltest.Open(t, b)), audit: &audits{},
		now: time.Now().UTC().Truncate(time.Microsecond)}
}

func (e *env) enqueue(key, target string) outbox.Message {
	e.t.Helper()
	m := outbox.Message{ID: uuid.NewString(), Kind: "test", Target: target, TargetKey: key, Payload: []byte(`{}`),
		NextAttemptAt: e.now, CreatedAt: e.now}
	if err := e.store.Enqueue(context.Background(), m); err != nil {
		e.t.Fatal(err)
	}
	return m
}

func (e *env) worker(cfg outbox.Config, clock bool) *outbox.Worker {
	e.t.Helper()
	w, err := outbox.NewWorker(e.store, map[string]outbox.Deliverer{"test": post}, e.audit, nil, cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	if clock {
		outbox.SetClock(w, func() time.Time { return e.now })
	}
	return w
}

// counter is a receiver answering status and counting calls.
type counter struct {
	*httptest.Server
	calls  atomic.Int32
	status atomic.Int32
	got    chan time.Time
}

func newCounter(t *testing.T, status int) *counter {
	c := &counter{got: make(chan time.Time, 100)}
	c.status.Store(int32(status))
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.calls.Add(1)
		w.WriteHeader(int(c.status.Load()))
		if c.status.Load()/100 == 2 {
			c.got <- time.Now()
		}
	}))
	t.Cleanup(c.Close)
	return c
}

// TestWorker_HangingTargetDoesNotStall: a receiver that accepts and never answers, with
// a backlog of messages, does not hold up a message to another receiver queued after
// them: deliveries run concurrently, bounded per target, each attempt bounded by the
// timeout. (Worked serially, as before, the second receiver waited for every hanging
// attempt's timeout in turn.)
func TestWorker_HangingTargetDoesNotStall(t *testing.T) {
	e := newEnv(t)
	hang := outboxtest.HangingListener(t) + "/hang"
	for range 40 {
		e.enqueue("ssf:evil", hang)
	}
	rp := newCounter(t, http.StatusOK)
	wake := outbox.NewSignal()
	w := e.worker(outbox.Config{Timeout: 10 * time.Second, Poll: time.Hour, Wake: wake}, false)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	time.Sleep(200 * time.Millisecond) // the hanging attempts are under way
	e.now = time.Now().UTC().Truncate(time.Microsecond)
	e.enqueue("bcl:rp", rp.URL)
	began := time.Now()
	wake.Notify()
	select {
	case at := <-rp.got:
		if d := at.Sub(began); d > time.Second {
			t.Fatalf("the healthy receiver waited %s behind the hanging one", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the healthy receiver got nothing while another receiver hangs")
	}
}

// TestWorker_WakeWithoutPolling: with polling an hour apart, a message queued and
// signalled is delivered at once.
func TestWorker_WakeWithoutPolling(t *testing.T) {
	e := newEnv(t)
	rp := newCounter(t, http.StatusOK)
	wake := outbox.NewSignal()
	w := e.worker(outbox.Config{Poll: time.Hour, Wake: wake}, false)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	time.Sleep(100 * time.Millisecond) // Run's first look found nothing
	e.now = time.Now().UTC().Truncate(time.Microsecond)
	e.enqueue("bcl:rp", rp.URL)
	wake.Notify()
	select {
	case <-rp.got:
	case <-time.After(10 * time.Second):
		t.Fatal("not delivered after the wake-up")
	}
}

// TestWorker_TargetBackoff: a failing target's other messages wait with it (they are
// not tried on every pass), while other targets are delivered; when the target
// recovers, its messages go.
func TestWorker_TargetBackoff(t *testing.T) {
	e := newEnv(t)
	bad, good := newCounter(t, http.StatusServiceUnavailable), newCounter(t, http.StatusOK)
	var badMsgs []outbox.Message
	for range 5 {
		badMsgs = append(badMsgs, e.enqueue("bcl:bad", bad.URL))
	}
	e.enqueue("bcl:good", good.URL)
	w := e.worker(outbox.Config{PerTarget: 2}, true)
	ctx := context.Background()
	if err := w.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if n := bad.calls.Load(); n != 2 {
		t.Fatalf("failing target called %d times on the first pass, want 2 (its bound)", n)
	}
	if n := good.calls.Load(); n != 1 {
		t.Fatalf("healthy target called %d times, want 1", n)
	}
	// The same instant, and shortly after: the failing target is left alone.
	for range 3 {
		if err := w.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		e.now = e.now.Add(500 * time.Millisecond)
	}
	if n := bad.calls.Load(); n != 2 {
		t.Fatalf("failing target called %d times while backed off, want still 2", n)
	}
	// After the backoff it is tried again, and once it answers everything goes.
	bad.status.Store(http.StatusOK)
	for range 6 {
		e.now = e.now.Add(10 * time.Second)
		if err := w.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(bad.got); n != len(badMsgs) {
		t.Fatalf("recovered target received %d messages, want %d", n, len(badMsgs))
	}
}

// TestWorker_GiveUpAndAuditFinalOutcome: a target that keeps failing is given up after
// the attempt limit, its target flagged once; the audit log holds one row per message,
// its final outcome, however many retries there were; a message that succeeds after
// retries is audited once, as delivered.
func TestWorker_GiveUpAndAuditFinalOutcome(t *testing.T) {
	e := newEnv(t)
	bad, flaky := newCounter(t, http.StatusBadGateway), newCounter(t, http.StatusServiceUnavailable)
	lost := e.enqueue("ssf:bad", bad.URL)
	late := e.enqueue("bcl:flaky", flaky.URL)
	var flagged []string
	w := e.worker(outbox.Config{MaxAttempts: 4, GivenUp: func(_ context.Context, m outbox.Message, reason string) error {
		flagged = append(flagged, m.ID+": "+reason)
		return nil
	}}, true)
	ctx := context.Background()
	for i := range 8 {
		if i == 2 {
			flaky.status.Store(http.StatusNoContent)
		}
		if err := w.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		e.now = e.now.Add(10 * time.Minute)
	}
	if n := bad.calls.Load(); n != 4 {
		t.Errorf("failing target called %d times, want 4 (the limit)", n)
	}
	if got := e.audit.outcomes(lost.ID); len(got) != 1 || got[0] != "given_up" {
		t.Errorf("audit of the lost message = %v, want [given_up]", got)
	}
	if got := e.audit.outcomes(late.ID); len(got) != 1 || got[0] != "delivered" {
		t.Errorf("audit of the late message = %v, want [delivered]", got)
	}
	if len(flagged) != 1 || !strings.HasPrefix(flagged[0], lost.ID+": gave up after 4 attempts") {
		t.Fatalf("flagged = %v, want the lost message once", flagged)
	}
	if st := w.Stats(); st.Delivered != 1 || st.GivenUp != 1 || st.Retried != 5 || st.InFlight != 0 {
		t.Errorf("stats = %+v, want 1 delivered, 1 given up, 5 retried (3 + 2), none in flight", st)
	}
	// Given up: never claimed again.
	e.now = e.now.Add(48 * time.Hour)
	if err := w.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if n := bad.calls.Load(); n != 4 {
		t.Errorf("given-up message tried again (%d calls)", n)
	}
}

// TestWorker_GiveUpAfterAge: a message whose next attempt would come after GiveUpAfter
// is given up, whatever its attempt count.
func TestWorker_GiveUpAfterAge(t *testing.T) {
	e := newEnv(t)
	bad := newCounter(t, http.StatusInternalServerError)
	m := e.enqueue("bcl:bad", bad.URL)
	w := e.worker(outbox.Config{GiveUpAfter: time.Hour}, true)
	e.now = e.now.Add(time.Hour - 500*time.Millisecond) // the next attempt, a second on, would be too late
	if err := w.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := e.audit.outcomes(m.ID); len(got) != 1 || got[0] != "given_up" {
		t.Fatalf("audit = %v, want [given_up]", got)
	}
}

// TestWorker_ShutdownReleases: stopping the worker cuts attempts in flight short and
// hands their messages (and those waiting for a slot) back at once, without counting an
// attempt, so the next node to run takes them instead of waiting for the lease to lapse.
func TestWorker_ShutdownReleases(t *testing.T) {
	e := newEnv(t)
	hang := outboxtest.HangingListener(t) + "/hang"
	for range 3 {
		e.enqueue("ssf:slow", hang)
	}
	w := e.worker(outbox.Config{Timeout: time.Minute, Poll: time.Hour}, false)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	time.Sleep(300 * time.Millisecond) // two attempts hang, one message waits for a slot
	began := time.Now()
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Fatalf("Run took %s to stop", d)
	}
	got, err := e.store.Claim(context.Background(), time.Now().UTC(), time.Minute, 10, outbox.ClaimOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("after shutdown %d of 3 messages are due again", len(got))
	}
	for _, m := range got {
		if m.Attempts != 0 {
			t.Errorf("message %s counts %d attempts after a shutdown", m.ID, m.Attempts)
		}
	}
}

// TestWorker_TwoNodesDeliverOnce: two workers (two nodes) on one database, both woken
// for every message, deliver each message exactly once.
func TestWorker_TwoNodesDeliverOnce(t *testing.T) {
	for _, b := range sqltest.Backends {
		t.Run(string(b), func(t *testing.T) {
			e := newEnvOn(t, b)
			var mu sync.Mutex
			got := map[string]int{}
			rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				got[r.URL.Query().Get("m")]++
				mu.Unlock()
			}))
			defer rp.Close()
			wake := outbox.NewSignal()
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for range 2 {
				w := e.worker(outbox.Config{Poll: time.Hour, Wake: wake}, false)
				wg.Go(func() { w.Run(ctx) })
			}
			const n = 60
			for i := range n {
				e.now = time.Now().UTC().Truncate(time.Microsecond)
				e.enqueue(fmt.Sprintf("bcl:rp-%d", i%4), fmt.Sprintf("%s/bcl?m=%d", rp.URL, i))
				wake.Notify()
			}
			deadline := time.Now().Add(20 * time.Second)
			for {
				mu.Lock()
				k := len(got)
				mu.Unlock()
				if k == n || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(200 * time.Millisecond) // a second delivery would show by now
			cancel()
			wg.Wait()
			mu.Lock()
			defer mu.Unlock()
			if len(got) != n {
				t.Fatalf("%d of %d messages delivered", len(got), n)
			}
			for m, c := range got {
				if c != 1 {
					t.Errorf("message %s delivered %d times", m, c)
				}
			}
		})
	}
}
