package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/weft-fabric/weft/access"
)

// Message is one message to deliver to a relying party or receiver. Messages are
// written in the same transaction as what caused them and delivered afterwards, with
// retries, so a receiver that is down gets every message once it is back and a node
// restart loses nothing.
type Message struct {
	ID            string
	Kind          string // e.g. KindBackchannelLogout
	Target        string // URL
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

// Store persists messages.
type Store interface {
	Enqueue(ctx context.Context, m Message) error
	// Claim leases up to limit due, undelivered messages to this node until now+lease,
	// so that several nodes working the outbox do not deliver one message twice at once.
	// It never claims pull messages or messages given up.
	Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Message, error)
	MarkDelivered(ctx context.Context, id string, at time.Time) error
	MarkFailed(ctx context.Context, id string, attempts int, next time.Time, lastError string) error
	// MarkGivenUp records a permanent failure: the message is never tried again.
	MarkGivenUp(ctx context.Context, id string, attempts int, at time.Time, lastError string) error
	ByRevocation(ctx context.Context, revocationID string) ([]Message, error)
}

// Deliverer sends one message; an error means "retry later".
type Deliverer func(ctx context.Context, m Message) error

// Worker works the outbox: claim due messages, deliver, record the outcome, back off.
type Worker struct {
	store   Store
	deliver map[string]Deliverer
	auditor access.AuditRecorder
	logger  *slog.Logger
	now     func() time.Time
}

// NewWorker builds the worker. Every delivery attempt and its outcome is audited; a nil
// logger discards.
func NewWorker(store Store, deliver map[string]Deliverer, audit access.AuditRecorder, logger *slog.Logger) (*Worker, error) {
	if store == nil || audit == nil || len(deliver) == 0 {
		return nil, errors.New("outbox.NewWorker: store, audit and at least one deliverer are required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Worker{store: store, deliver: deliver, auditor: audit, logger: logger,
		now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}, nil
}

// maxBackoff bounds the wait between attempts; attempts never stop on their own.
const maxBackoff = 5 * time.Minute

func backoff(attempts int) time.Duration {
	d := time.Second << min(attempts-1, 16)
	return min(d, maxBackoff)
}

// RunOnce delivers what is due and returns how many messages succeeded and failed.
func (o *Worker) RunOnce(ctx context.Context) (delivered, failed int, err error) {
	now := o.now()
	msgs, err := o.store.Claim(ctx, now, time.Minute, 50)
	if err != nil {
		return 0, 0, err
	}
	for _, m := range msgs {
		send, ok := o.deliver[m.Kind]
		var derr error
		if !ok {
			derr = fmt.Errorf("no deliverer for %q", m.Kind)
		} else {
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			derr = send(dctx, m)
			cancel()
		}
		if derr == nil {
			delivered++
			o.audit(ctx, m, m.Attempts+1, "delivered", nil)
			if err := o.store.MarkDelivered(ctx, m.ID, o.now()); err != nil {
				return delivered, failed, err
			}
			continue
		}
		var hold *HoldError
		if errors.As(derr, &hold) {
			if err := o.store.MarkFailed(ctx, m.ID, m.Attempts, hold.Until, truncate(hold.Reason, 500)); err != nil {
				return delivered, failed, err
			}
			continue
		}
		failed++
		attempts := m.Attempts + 1
		if errors.Is(derr, ErrPermanent) {
			o.audit(ctx, m, attempts, "given_up", derr)
			o.logger.WarnContext(ctx, "outbox delivery refused; giving up", "kind", m.Kind, "target", m.Target,
				"attempts", attempts, "error", derr.Error())
			if err := o.store.MarkGivenUp(ctx, m.ID, attempts, o.now(), truncate(derr.Error(), 500)); err != nil {
				return delivered, failed, err
			}
			continue
		}
		next := o.now().Add(backoff(attempts))
		o.audit(ctx, m, attempts, "retry", derr)
		o.logger.WarnContext(ctx, "outbox delivery failed; will retry", "kind", m.Kind, "target", m.Target,
			"attempts", attempts, "next_attempt_at", next, "error", derr.Error())
		if err := o.store.MarkFailed(ctx, m.ID, attempts, next, truncate(derr.Error(), 500)); err != nil {
			return delivered, failed, err
		}
	}
	return delivered, failed, nil
}

// audit records one delivery attempt. A failure to write it is logged, not retried:
// the delivery itself has happened (or not) either way.
func (o *Worker) audit(ctx context.Context, m Message, attempt int, outcome string, derr error) {
	detail := map[string]any{"message": m.ID, "attempt": attempt, "outcome": outcome, "target": m.Target}
	if m.RevocationID != "" {
		detail["revocation"] = m.RevocationID
	}
	if derr != nil {
		detail["error"] = truncate(derr.Error(), 200)
	}
	if err := o.auditor.Record(ctx, "delivery."+m.Kind, "system", m.Target, detail); err != nil {
		o.logger.ErrorContext(ctx, "writing the audit log failed", "error", err.Error())
	}
}

// Run works the outbox every interval until ctx ends.
func (o *Worker) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, _, err := o.RunOnce(ctx); err != nil && ctx.Err() == nil {
			o.logger.ErrorContext(ctx, "outbox", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
