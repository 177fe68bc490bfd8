package outbox

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// fakeOutbox records what the worker does with one claimed message.
type fakeOutbox struct {
	msg                Message
	delivered, givenUp bool
	attempts           int
	next               time.Time
	lastError          string
	claimed            bool
}

func (f *fakeOutbox) Enqueue(context.Context, Message) error { return nil }
func (f *fakeOutbox) Claim(context.Context, time.Time, time.Duration, int, ClaimOptions) ([]Message, error) {
	if f.claimed {
		return nil, nil
	}
	f.claimed = true
	return []Message{f.msg}, nil
}
func (f *fakeOutbox) DeferTarget(context.Context, string, time.Time) error { return nil }
func (f *fakeOutbox) NextDue(context.Context, []string) (time.Time, error) { return time.Time{}, nil }
func (f *fakeOutbox) MarkDelivered(context.Context, string, time.Time) error {
	f.delivered = true
	return nil
}
func (f *fakeOutbox) MarkFailed(_ context.Context, _ string, attempts int, next time.Time, lastError string) error {
	f.attempts, f.next, f.lastError = attempts, next, lastError
	return nil
}
func (f *fakeOutbox) MarkGivenUp(_ context.Context, _ string, attempts int, _ time.Time, lastError string) error {
	f.givenUp, f.attempts, f.lastError = true, attempts, lastError
	return nil
}
func (f *fakeOutbox) ByRevocation(context.Context, string) ([]Message, error) { return nil, nil }

// TestOutbox_Outcomes: success is delivered; an ordinary error is retried with backoff
// and counts an attempt; ErrPermanent gives up; a hold waits without counting.
func TestOutbox_Outcomes(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	until := now.Add(time.Minute)
	for _, tc := range []struct {
		name          string
		err           error
		wantDelivered bool
		wantGivenUp   bool
		wantAttempts  int
		wantNext      time.Time
		wantError     string
	}{
		{name: "delivered", wantDelivered: true},
		{name: "retry", err: errors.New("receiver answered 503"), wantAttempts: 3, wantNext: now.Add(4 * time.Second),
			wantError: "receiver answered 503"},
		{name: "permanent", err: fmt.Errorf("%w: receiver rejected the SET (400): invalid_key", ErrPermanent), wantGivenUp: true,
			wantAttempts: 3, wantError: "permanent delivery failure: receiver rejected the SET (400): invalid_key"},
		{name: "hold", err: &HoldError{Until: until, Reason: "stream paused"}, wantAttempts: 2, wantNext: until,
			wantError: "stream paused"},
	} {
		var audits auditLog
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeOutbox{msg: Message{ID: "m1", Kind: "k", Attempts: 2, CreatedAt: now}}
			o, err := NewWorker(f, map[string]Deliverer{"k": func(context.Context, Message) error { return tc.err }}, &audits, nil, Config{})
			if err != nil {
				t.Fatal(err)
			}
			o.now = func() time.Time { return now }
			if err := o.RunOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			if f.delivered != tc.wantDelivered || f.givenUp != tc.wantGivenUp || f.lastError != tc.wantError {
				t.Fatalf("store saw delivered=%v givenUp=%v lastError=%q", f.delivered, f.givenUp, f.lastError)
			}
			if tc.err != nil && (f.attempts != tc.wantAttempts || !f.next.Equal(tc.wantNext)) {
				t.Fatalf("attempts=%d next=%v; want %d %v", f.attempts, f.next, tc.wantAttempts, tc.wantNext)
			}
		})
	}
}

// auditLog counts audit entries.
type auditLog struct{ kinds []string }

func (a *auditLog) Record(_ context.Context, kind, _, _ string, _ map[string]any) error {
	a.kinds = append(a.kinds, kind)
	return nil
}
