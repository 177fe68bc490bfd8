package ssf

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/weft-fabric/weft/access/outbox"
)

// typ is the JWS typ header of a SET (RFC 8417 section 2.3).
const typ = "secevent+jwt"

// holdFor is how long a paused push stream's SETs wait before the outbox looks again;
// resuming wakes them at once.
const holdFor = time.Minute

// sign signs the SET stored in m.
func (t *Transmitter) sign(ctx context.Context, m outbox.Message) (string, error) {
	var p payload
	if err := json.Unmarshal(m.Payload, &p); err != nil || p.Claims == nil {
		return "", fmt.Errorf("%w: outbox payload of %s is not a SET", outbox.ErrPermanent, m.ID)
	}
	// The signing server's issuer is authoritative: an event queued by a CLI run with
	// a different (say, default) issuer setting must not reach receivers under it.
	p.Claims["iss"] = t.Issuer
	reissue(p.Claims["sub_id"], t.Issuer)
	return t.Sign(ctx, p.Claims, typ)
}

// reissue sets the iss of every iss_sub identifier in a subject to iss.
func reissue(subject any, iss string) {
	m, ok := subject.(map[string]any)
	if !ok {
		return
	}
	if m["format"] == "iss_sub" {
		m["iss"] = iss
	}
	for _, v := range m {
		if inner, ok := v.(map[string]any); ok {
			reissue(inner, iss)
		}
	}
}

// DeliverPush is the outbox deliverer of push streams (RFC 8935): POST the SET as
// application/secevent+jwt. 202 is delivered; 400 is the receiver refusing this SET
// for good (its error code is kept for the receipt); anything else is retried.
func (t *Transmitter) DeliverPush(ctx context.Context, m outbox.Message) error {
	s, err := t.Streams.StreamByID(ctx, m.StreamID)
	if isNotFound(err) {
		return fmt.Errorf("%w: stream deleted", outbox.ErrPermanent)
	}
	if err != nil {
		return err
	}
	switch s.Status {
	case StatusPaused:
		return &outbox.HoldError{Until: t.now().Add(holdFor), Reason: "stream paused: held until enabled"}
	case StatusDisabled:
		return fmt.Errorf("%w: stream disabled", outbox.ErrPermanent)
	}
	set, err := t.sign(ctx, m)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.EndpointURL, strings.NewReader(set))
	if err != nil {
		return fmt.Errorf("%w: %v", outbox.ErrPermanent, err)
	}
	req.Header.Set("Content-Type", "application/secevent+jwt")
	req.Header.Set("Accept", "application/json")
	h, err := t.authorization(s)
	if err != nil {
		return err // a KEK mismatch is the operator's to fix; retried meanwhile
	}
	if h != "" {
		req.Header.Set("Authorization", h)
	}
	// The endpoint was checked when it was registered; the client checks it again at
	// connect time (the host may resolve elsewhere now).
	resp, err := t.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<10))
	switch resp.StatusCode {
	case http.StatusAccepted:
		return nil
	case http.StatusBadRequest:
		var e struct {
			Err         string `json:"err"`
			Description string `json:"description"`
		}
		_ = json.Unmarshal(body, &e)
		msg := "receiver rejected the SET (400)"
		if e.Err != "" {
			msg += ": " + clean(e.Err, 64)
			if e.Description != "" {
				msg += ": " + clean(e.Description, 256)
			}
		}
		return fmt.Errorf("%w: %s", outbox.ErrPermanent, msg)
	}
	return fmt.Errorf("receiver answered %d", resp.StatusCode)
}

// clean keeps a receiver's text printable and short before it reaches logs and receipts.
func clean(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, s)
	if len(s) > n {
		s = s[:n]
	}
	return s
}

// PollRequest is an RFC 8936 poll request.
type PollRequest struct {
	MaxEvents         *int              `json:"maxEvents,omitempty"`
	ReturnImmediately bool              `json:"returnImmediately,omitempty"`
	Ack               []string          `json:"ack,omitempty"`
	SetErrs           map[string]SetErr `json:"setErrs,omitempty"`
}

// SetErr is a receiver's error report for one SET (RFC 8936 section 2.4).
type SetErr struct {
	Err         string `json:"err"`
	Description string `json:"description,omitempty"`
}

// PollResponse is an RFC 8936 poll response.
type PollResponse struct {
	Sets          map[string]string `json:"sets"`
	MoreAvailable bool              `json:"moreAvailable"`
}

// Poll limits.
const (
	defaultMaxEvents = 100
	maxMaxEvents     = 1000
	maxAcks          = 1000
	// pollTick is how often a waiting long poll looks again without being woken (SETs
	// queued by another node; this node's own wake it at once).
	pollTick = time.Second
	// maxWaitingPolls bounds the long polls that wait on one stream at once; more
	// answer at once, so a receiver cannot multiply the queries a wait costs.
	maxWaitingPolls = 2
)

// wait registers a long poll on stream id; false when the stream has enough waiting.
func (t *Transmitter) wait(id string) (release func(), ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.waiting == nil {
		t.waiting = map[string]int{}
	}
	if t.waiting[id] >= maxWaitingPolls {
		return nil, false
	}
	t.waiting[id]++
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.waiting[id]--; t.waiting[id] <= 0 {
			delete(t.waiting, id)
		}
	}, true
}

// Poll serves the client's poll stream id (RFC 8936): it records acknowledgements
// and error reports first, then returns up to maxEvents SETs that are not yet
// acknowledged. Without returnImmediately it waits, up to LongPoll, for one to come.
// SETs stay until acknowledged, so a receiver that lost an answer polls them again.
func (t *Transmitter) Poll(ctx context.Context, clientID, id string, req PollRequest) (PollResponse, error) {
	out := PollResponse{Sets: map[string]string{}}
	limit := defaultMaxEvents
	if req.MaxEvents != nil {
		limit = *req.MaxEvents
	}
	if limit < 0 || limit > maxMaxEvents {
		return out, invalid("maxEvents", fmt.Sprintf("must be 0 to %d", maxMaxEvents))
	}
	if len(req.Ack)+len(req.SetErrs) > maxAcks {
		return out, invalid("ack", fmt.Sprintf("at most %d acknowledgements per request", maxAcks))
	}
	s, err := t.Streams.Stream(ctx, clientID, id)
	if err != nil {
		return out, err
	}
	if s.Method != MethodPoll {
		return out, invalid("stream_id", "is a push stream; only poll streams are polled")
	}
	now := t.now()
	if len(req.Ack) > 0 {
		if _, err := t.Queue.Acknowledge(ctx, s.ID, req.Ack, now, ""); err != nil {
			return out, err
		}
	}
	for jti, e := range req.SetErrs {
		// An error report acknowledges the SET too: the receiver has it and says why
		// it could not use it; the receipt keeps that.
		msg := "receiver reported: " + clean(e.Err, 64)
		if e.Description != "" {
			msg += ": " + clean(e.Description, 256)
		}
		if _, err := t.Queue.Acknowledge(ctx, s.ID, []string{jti}, now, msg); err != nil {
			return out, err
		}
	}
	if limit == 0 {
		return out, nil
	}
	wait := t.LongPoll
	if wait <= 0 {
		wait = 10 * time.Second
	}
	deadline := time.Now().Add(wait)
	immediately := req.ReturnImmediately
	if !immediately {
		release, ok := t.wait(s.ID)
		if ok {
			defer release()
		}
		immediately = !ok
	}
	for {
		var woken <-chan struct{}
		if t.Wake != nil {
			woken = t.Wake.Changed() // before reading, so a SET queued meanwhile wakes us
		}
		if s.Status == StatusEnabled {
			msgs, err := t.Queue.Pending(ctx, s.ID, limit+1)
			if err != nil {
				return out, err
			}
			if len(msgs) > 0 {
				out.MoreAvailable = len(msgs) > limit
				msgs = msgs[:min(len(msgs), limit)]
				ids := make([]string, 0, len(msgs))
				for _, m := range msgs {
					set, err := t.sign(ctx, m)
					if err != nil {
						return out, err
					}
					out.Sets[m.ID] = set
					ids = append(ids, m.ID)
				}
				return out, t.Queue.Served(ctx, ids)
			}
		}
		if immediately || time.Now().After(deadline) {
			return out, nil
		}
		tick := time.NewTimer(min(pollTick, time.Until(deadline)))
		select {
		case <-ctx.Done():
			tick.Stop()
			return out, nil
		case <-woken:
		case <-tick.C:
		}
		tick.Stop()
		// The status may change while we wait (paused to enabled, or deleted).
		if s, err = t.Streams.Stream(ctx, clientID, id); err != nil {
			return out, err
		}
	}
}
