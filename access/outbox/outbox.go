package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/weft-fabric/weft/access"
)

// Message is one message to deliver to a relying party or receiver. Messages are
// written in the same transaction as what caused them and delivered afterwards, with
// retries, so a receiver that is down gets every message once it is back and a node
// restart loses nothing.
type Message struct {
	ID     string
	Kind   string // e.g. KindBackchannelLogout
	Target string // URL
	// TargetKey is the target the message counts against for concurrency and backoff:
	// the receiving client ("bcl:<client>", "ssf:<client>"), so that one receiver that
	// hangs or fails holds up only its own messages. Empty means Target.
	TargetKey     string
	Payload       []byte // JSON, kind-specific; signed at delivery time
	RevocationID  string
	Attempts      int
	NextAttemptAt time.Time
	DeliveredAt   *time.Time
	LastError     string
	CreatedAt     time.Time
	// StreamID is the SSF stream a security event token is for (access/ssf); empty
	// for other kinds.
	StreamID string
	// Pull marks a message the receiver fetches itself (RFC 8936 poll): the worker
	// never claims it, and DeliveredAt is when the receiver acknowledged it.
	Pull bool
	// FailedAt is set when delivery was given up for good (see ErrPermanent).
	FailedAt *time.Time
}

// Key is the target the message counts against (TargetKey, or Target without one).
func (m Message) Key() string {
	if m.TargetKey != "" {
		return m.TargetKey
	}
	return m.Target
}

// ErrPermanent marks a delivery failure that retrying cannot fix, such as a receiver
// rejecting a security event token with 400 (RFC 8935 section 2.3): the message is
// given up and its receipt keeps the reason.
var ErrPermanent = errors.New("permanent delivery failure")

// HoldError asks the outbox to try again at Until without counting an attempt: the
// receiver did not fail, it asked for the message to wait (a paused SSF stream).
type HoldError struct {
	Until  time.Time
	Reason string
}

func (e *HoldError) Error() string { return e.Reason }

// ClaimOptions spread a claim over targets.
type ClaimOptions struct {
	// PerTarget bounds how many messages of one target key the claim returns; 0 does
	// not bound it.
	PerTarget int
	// Skip lists target keys not to claim at all (targets this node is busy with or
	// backing off from).
	Skip []string
}

// Store persists messages.
type Store interface {
	Enqueue(ctx context.Context, m Message) error
	// Claim leases up to limit due, undelivered messages to this node until now+lease,
	// so that several nodes working the outbox never deliver one message twice at once,
	// oldest due first, spread over targets as opts asks. It never claims pull messages
	// or messages given up.
	Claim(ctx context.Context, now time.Time, lease time.Duration, limit int, opts ClaimOptions) ([]Message, error)
	MarkDelivered(ctx context.Context, id string, at time.Time) error
	MarkFailed(ctx context.Context, id string, attempts int, next time.Time, lastError string) error
	// MarkGivenUp records a permanent failure: the message is never tried again.
	MarkGivenUp(ctx context.Context, id string, attempts int, at time.Time, lastError string) error
	// DeferTarget makes the waiting push messages of target key due no earlier than
	// until, so a failing target is backed off as a whole. Messages due later (leased
	// ones included), delivered, given up or pulled are left alone.
	DeferTarget(ctx context.Context, key string, until time.Time) error
	// NextDue returns when the earliest message Claim could take falls due, leaving out
	// the skipped target keys (the zero time when there is none). A leased message
	// counts at the end of its lease.
	NextDue(ctx context.Context, skip []string) (time.Time, error)
	ByRevocation(ctx context.Context, revocationID string) ([]Message, error)
}

// Deliverer sends one message; an error means "retry later" (see ErrPermanent and
// HoldError for the others).
type Deliverer func(ctx context.Context, m Message) error

// Config bounds the worker; zero values take the defaults.
type Config struct {
	// Concurrency bounds deliveries in flight on this node (default 16).
	Concurrency int
	// PerTarget bounds deliveries in flight to one target (default 2).
	PerTarget int
	// Timeout bounds one delivery attempt (default 5 s).
	Timeout time.Duration
	// Poll is how often the worker looks for due messages without being woken: the
	// fallback for messages queued by another process, or whose lease lapsed (default 30 s).
	Poll time.Duration
	// MaxAttempts gives a message up after this many failed attempts (default 100;
	// negative: no limit).
	MaxAttempts int
	// GiveUpAfter gives a message up once its next attempt would come this long after
	// it was queued (default 24 h).
	GiveUpAfter time.Duration
	// Lease is how long a claimed message stays this node's (default 1 min); longer
	// than Timeout, so a message is never delivered twice at once.
	Lease time.Duration
	// Wake, when it fires, makes the worker look for due messages at once.
	Wake *Signal
	// GivenUp hears of every message given up because its attempts ran out, so the
	// target can be flagged (an SSF stream is disabled with the reason).
	GivenUp func(ctx context.Context, m Message, reason string) error
}

func (c *Config) defaults() {
	if c.Concurrency <= 0 {
		c.Concurrency = 16
	}
	if c.PerTarget <= 0 {
		c.PerTarget = 2
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.Poll <= 0 {
		c.Poll = 30 * time.Second
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 100
	}
	if c.GiveUpAfter <= 0 {
		c.GiveUpAfter = 24 * time.Hour
	}
	if c.Lease < 2*c.Timeout+10*time.Second {
		c.Lease = max(time.Minute, 2*c.Timeout+10*time.Second)
	}
	if c.Wake == nil {
		c.Wake = NewSignal()
	}
}

// Worker works the outbox: it claims due messages and delivers them concurrently,
// at most Concurrency at once and PerTarget to one target, each attempt bounded by
// Timeout. A target that fails is backed off as a whole (its other messages wait too,
// other targets go on), and a message whose attempts run out is given up and its
// target flagged. Only final outcomes (delivered, given_up) are audited; retries are
// logged once when a target starts failing and at debug level after that.
type Worker struct {
	store   Store
	deliver map[string]Deliverer
	auditor access.AuditRecorder
	logger  *slog.Logger
	cfg     Config
	now     func() time.Time

	mu      sync.Mutex
	held    int                  // messages claimed and not yet settled (running or queued)
	running map[string]int       // deliveries in flight per target key
	queued  map[string][]Message // claimed, waiting for a slot of their target
	targets map[string]*target   // failing targets
	kick    chan struct{}        // a slot freed or a retry was scheduled: look again
	wg      sync.WaitGroup
	stats   Stats
}

// Stats are the worker's counters since it started, for metrics.
type Stats struct {
	InFlight  int    // deliveries running now
	Delivered uint64 // messages delivered
	Retried   uint64 // failed attempts that will be retried
	GivenUp   uint64 // messages given up (refused, or out of attempts)
}

// Stats returns the worker's counters.
func (o *Worker) Stats() Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	st := o.stats
	for _, n := range o.running {
		st.InFlight += n
	}
	return st
}

// count adds one to a counter.
func (o *Worker) count(c *uint64) {
	o.mu.Lock()
	*c++
	o.mu.Unlock()
}

// target is what the worker knows of a failing target.
type target struct {
	failures int       // consecutive failed attempts
	until    time.Time // backed off until
}

// NewWorker builds the worker. A nil logger discards.
func NewWorker(store Store, deliver map[string]Deliverer, audit access.AuditRecorder, logger *slog.Logger, cfg Config) (*Worker, error) {
	if store == nil || audit == nil || len(deliver) == 0 {
		return nil, errors.New("outbox.NewWorker: store, audit and at least one deliverer are required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg.defaults()
	return &Worker{store: store, deliver: deliver, auditor: audit, logger: logger, cfg: cfg,
		now:     func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
		running: map[string]int{}, queued: map[string][]Message{}, targets: map[string]*target{},
		kick: make(chan struct{}, 1)}, nil
}

// maxBackoff bounds the wait between attempts.
const maxBackoff = 5 * time.Minute

func backoff(attempts int) time.Duration {
	d := time.Second << min(max(attempts, 1)-1, 16)
	return min(d, maxBackoff)
}

// Run works the outbox until ctx ends: at once when woken (Config.Wake), when the next
// message falls due, when a slot frees while messages wait, and every Poll otherwise. It
// returns once the deliveries in flight have settled.
func (o *Worker) Run(ctx context.Context) {
	defer o.wg.Wait()
	retry := time.NewTimer(o.cfg.Poll)
	defer retry.Stop()
	for {
		// Taken before claiming, so a wake-up during the claim is not lost.
		wake := o.cfg.Wake.Changed()
		next, err := o.fill(ctx)
		if err != nil && ctx.Err() == nil {
			o.logger.ErrorContext(ctx, "outbox", "error", err.Error())
		}
		// Look again when the next message falls due (a retry, a lease that lapses,
		// whichever node set it), but never spin.
		wait := o.cfg.Poll
		if !next.IsZero() {
			wait = min(max(next.Sub(o.now()), 10*time.Millisecond), wait)
		}
		if err != nil {
			wait = min(time.Second, wait) // the database is away: try again soon
		}
		retry.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-o.kick:
		case <-retry.C:
		}
	}
}

// RunOnce claims what is due now, delivers it and waits until every delivery has
// settled (tests, and callers without a running worker).
func (o *Worker) RunOnce(ctx context.Context) error {
	_, err := o.fill(ctx)
	o.wg.Wait()
	return err
}

// fill claims due messages while this node has room for them and starts them. It
// returns when the next message this node could take falls due (zero: none known, or
// no room: a slot freeing wakes the run loop).
func (o *Worker) fill(ctx context.Context) (time.Time, error) {
	for {
		now := o.now()
		o.mu.Lock()
		free := o.cfg.Concurrency - o.held
		var skip []string
		for k, n := range o.running {
			if n+len(o.queued[k]) >= o.cfg.PerTarget {
				skip = append(skip, k)
			}
		}
		for k, t := range o.targets {
			if t.until.After(now) {
				skip = append(skip, k)
			}
		}
		o.mu.Unlock()
		if free <= 0 {
			return time.Time{}, nil
		}
		msgs, err := o.store.Claim(ctx, now, o.cfg.Lease, free, ClaimOptions{PerTarget: o.cfg.PerTarget, Skip: skip})
		if err != nil {
			return time.Time{}, err
		}
		o.mu.Lock()
		for _, m := range msgs {
			o.held++
			k := m.Key()
			if o.running[k] >= o.cfg.PerTarget {
				o.queued[k] = append(o.queued[k], m)
				continue
			}
			o.startLocked(ctx, m)
		}
		o.mu.Unlock()
		if len(msgs) < free {
			return o.nextDue(ctx, skip)
		}
	}
}

// nextDue is when the next message this node could take falls due: the earliest due
// message of a target not skipped, or the end of a backoff.
func (o *Worker) nextDue(ctx context.Context, skip []string) (time.Time, error) {
	next, err := o.store.NextDue(ctx, skip)
	if err != nil {
		return time.Time{}, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.now()
	for _, t := range o.targets {
		if !t.until.After(now) {
			continue
		}
		if next.IsZero() || t.until.Before(next) {
			next = t.until
		}
	}
	return next, nil
}

// startLocked delivers m in its own goroutine; o.mu is held.
func (o *Worker) startLocked(ctx context.Context, m Message) {
	o.running[m.Key()]++
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		o.attempt(ctx, m)
		o.settle(ctx, m.Key())
	}()
}

// settle frees m's slot: the next message queued for the target starts, unless the
// target is now backing off (then the queued ones wait, without an attempt counted).
func (o *Worker) settle(ctx context.Context, key string) {
	o.mu.Lock()
	o.running[key]--
	o.held--
	if o.running[key] == 0 {
		delete(o.running, key)
	}
	var hold []Message
	var until time.Time
	if q := o.queued[key]; len(q) > 0 {
		if t := o.targets[key]; t != nil && t.until.After(o.now()) {
			hold, until = q, t.until
			o.held -= len(q)
			delete(o.queued, key)
		} else if ctx.Err() != nil {
			// Shutting down: due again at once, for whichever node runs next.
			hold, until = q, o.now()
			o.held -= len(q)
			delete(o.queued, key)
		} else {
			o.queued[key] = q[1:]
			if len(o.queued[key]) == 0 {
				delete(o.queued, key)
			}
			o.startLocked(ctx, q[0])
		}
	}
	o.mu.Unlock()
	for _, m := range hold {
		o.store1(ctx, "hold", m, func(ctx context.Context) error {
			return o.store.MarkFailed(ctx, m.ID, m.Attempts, until, m.LastError)
		})
	}
	// Messages of this target (or others) may have been left due for want of a slot.
	o.poke()
}

// poke makes the run loop look again; it never blocks.
func (o *Worker) poke() {
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// attempt delivers m once and records the outcome.
func (o *Worker) attempt(ctx context.Context, m Message) {
	send, ok := o.deliver[m.Kind]
	var derr error
	if !ok {
		derr = fmt.Errorf("%w: no deliverer for %q", ErrPermanent, m.Kind)
	} else {
		dctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
		derr = send(dctx, m)
		if derr != nil && errors.Is(dctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			derr = fmt.Errorf("no answer within %s: %w", o.cfg.Timeout, derr)
		}
		cancel()
	}
	key := m.Key()
	now := o.now()
	var hold *HoldError
	switch {
	case derr == nil:
		o.store1(ctx, "delivered", m, func(ctx context.Context) error { return o.store.MarkDelivered(ctx, m.ID, o.now()) })
		o.audit(ctx, m, m.Attempts+1, "delivered", nil)
		o.count(&o.stats.Delivered)
		o.mu.Lock()
		t := o.targets[key]
		delete(o.targets, key)
		o.mu.Unlock()
		if t != nil {
			o.logger.InfoContext(ctx, "outbox target recovered", "kind", m.Kind, "target", redact(m.Target), "failed_attempts", t.failures)
		}
	case errors.As(derr, &hold):
		o.store1(ctx, "hold", m, func(ctx context.Context) error {
			return o.store.MarkFailed(ctx, m.ID, m.Attempts, hold.Until, truncate(hold.Reason, 500))
		})
	case ctx.Err() != nil:
		// Shutting down: not the receiver's failure. Due again at once, for whichever
		// node runs next.
		o.store1(ctx, "release", m, func(ctx context.Context) error {
			return o.store.MarkFailed(ctx, m.ID, m.Attempts, now, m.LastError)
		})
	case errors.Is(derr, ErrPermanent):
		o.giveUp(ctx, m, m.Attempts+1, derr.Error(), false)
	default:
		o.retry(ctx, m, derr, now)
	}
}

// retry schedules m's next attempt and backs its target off, or gives m up when its
// attempts have run out.
func (o *Worker) retry(ctx context.Context, m Message, derr error, now time.Time) {
	key := m.Key()
	attempts := m.Attempts + 1
	o.mu.Lock()
	t := o.targets[key]
	if t == nil {
		t = &target{}
		o.targets[key] = t
	}
	t.failures++
	failures := t.failures
	next := now.Add(max(backoff(attempts), backoff(failures)))
	t.until = next
	o.mu.Unlock()

	if (o.cfg.MaxAttempts > 0 && attempts >= o.cfg.MaxAttempts) || next.After(m.CreatedAt.Add(o.cfg.GiveUpAfter)) {
		o.giveUp(ctx, m, attempts, fmt.Sprintf("gave up after %d attempts over %s: %s", attempts,
			now.Sub(m.CreatedAt).Round(time.Second), derr.Error()), true)
		return
	}
	o.count(&o.stats.Retried)
	o.store1(ctx, "retry", m, func(ctx context.Context) error {
		return errors.Join(o.store.MarkFailed(ctx, m.ID, attempts, next, truncate(derr.Error(), 500)),
			o.store.DeferTarget(ctx, key, next))
	})
	log := o.logger.DebugContext
	if failures == 1 {
		log = o.logger.WarnContext // once per failing streak, not per retry
	}
	log(ctx, "outbox delivery failed; the target is backed off", "kind", m.Kind, "target", redact(m.Target),
		"attempts", attempts, "target_failures", failures, "next_attempt_at", next, "error", truncate(derr.Error(), 200))
}

// giveUp records m as given up for good; exhausted says its attempts ran out (the
// target is then flagged through Config.GivenUp).
func (o *Worker) giveUp(ctx context.Context, m Message, attempts int, reason string, exhausted bool) {
	o.store1(ctx, "given up", m, func(ctx context.Context) error {
		return o.store.MarkGivenUp(ctx, m.ID, attempts, o.now(), truncate(reason, 500))
	})
	o.audit(ctx, m, attempts, "given_up", errors.New(reason))
	o.count(&o.stats.GivenUp)
	o.logger.WarnContext(ctx, "outbox delivery given up", "kind", m.Kind, "target", redact(m.Target),
		"attempts", attempts, "error", truncate(reason, 200))
	if exhausted && o.cfg.GivenUp != nil {
		o.store1(ctx, "flag target", m, func(ctx context.Context) error { return o.cfg.GivenUp(ctx, m, reason) })
	}
}

// store1 writes an outcome. It outlives a shutdown (ctx ending), briefly: the delivery
// happened, and its record must not be lost with the process.
func (o *Worker) store1(ctx context.Context, what string, m Message, fn func(ctx context.Context) error) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := fn(sctx); err != nil {
		o.logger.ErrorContext(ctx, "outbox: recording a delivery outcome failed", "outcome", what, "message", m.ID, "error", err.Error())
	}
}

// audit records a delivery's final outcome (delivered or given_up). A failure to write
// it is logged, not retried: the delivery itself has happened (or not) either way.
func (o *Worker) audit(ctx context.Context, m Message, attempts int, outcome string, derr error) {
	detail := map[string]any{"message": m.ID, "attempts": attempts, "outcome": outcome, "target": redact(m.Target)}
	if m.RevocationID != "" {
		detail["revocation"] = m.RevocationID
	}
	if m.StreamID != "" {
		detail["stream"] = m.StreamID
	}
	if derr != nil {
		detail["error"] = truncate(derr.Error(), 200)
	}
	actx := context.WithoutCancel(ctx)
	if err := o.auditor.Record(actx, "delivery."+m.Kind, "system", redact(m.Target), detail); err != nil {
		o.logger.ErrorContext(ctx, "writing the audit log failed", "error", err.Error())
	}
}

// redact drops what a URL may carry that is not the audit log's or the log's to keep:
// credentials, the query and the fragment (a receiver may put a token there).
func redact(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery, u.Fragment, u.RawFragment, u.ForceQuery = nil, "", "", "", false
	return u.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// Signal wakes whoever waits on it (the outbox worker, long polls): Notify closes the
// channel that Changed handed out, so every waiter that took it before wakes, and a
// Notify between taking the channel and waiting on it is not lost.
type Signal struct {
	mu sync.Mutex
	ch chan struct{}
}

// NewSignal returns a Signal.
func NewSignal() *Signal { return &Signal{ch: make(chan struct{})} }

// Changed returns a channel closed at the next Notify.
func (s *Signal) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

// Notify wakes every waiter. It never blocks.
func (s *Signal) Notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.ch)
	s.ch = make(chan struct{})
}
