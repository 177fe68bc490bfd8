package ssf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/outbound"
	"github.com/weft-fabric/weft/identity"
)

// Limits on what a receiver may store; generous for real receivers, small enough that
// one client cannot fill the database or make every event fan out a thousandfold.
const (
	MaxStreamsPerClient = 10
	maxEventsRequested  = 32
	maxEventTypeLen     = 256
	maxDescriptionLen   = 1024
	maxURLLen           = 2048
	maxAuthHeaderLen    = 4096
	maxReasonLen        = 1024
	maxStateLen         = 1024
	// MaxSubjectsPerStream bounds the subjects a receiver adds to one stream.
	MaxSubjectsPerStream = 10000
	maxSubLen            = 255
)

// StreamConfig is a receiver's stream configuration request (SSF 1.0 section 8.1.1).
// Pointers tell "absent" from "empty" for PATCH. Transmitter-supplied properties may
// be echoed back by receivers: iss and aud must then match, the event lists are
// ignored (they are computed).
type StreamConfig struct {
	StreamID        *string         `json:"stream_id,omitempty"`
	Iss             *string         `json:"iss,omitempty"`
	Aud             json.RawMessage `json:"aud,omitempty"`
	Delivery        *DeliveryConfig `json:"delivery,omitempty"`
	EventsSupported json.RawMessage `json:"events_supported,omitempty"`
	EventsRequested *[]string       `json:"events_requested,omitempty"`
	EventsDelivered json.RawMessage `json:"events_delivered,omitempty"`
	Description     *string         `json:"description,omitempty"`
	// DefaultSubjects (a Weft extension of the stream configuration) is ALL or NONE;
	// new streams default to NONE. Absent in an update, PUT included, keeps it.
	DefaultSubjects *string `json:"default_subjects,omitempty"`
}

// DeliveryConfig is the delivery member of a stream configuration.
type DeliveryConfig struct {
	Method      string  `json:"method"`
	EndpointURL *string `json:"endpoint_url,omitempty"`
	// AuthorizationHeader is sent as the Authorization header of each push. It is
	// write-only: never shown back; absent in an update keeps the current one.
	AuthorizationHeader *string `json:"authorization_header,omitempty"`
}

func invalid(field, reason string) error {
	return &identity.ValidationError{Field: field, Reason: reason}
}

// checkEcho checks the transmitter-supplied properties a receiver may send back.
func (t *Transmitter) checkEcho(in StreamConfig, clientID string) error {
	if in.Iss != nil && *in.Iss != t.Issuer {
		return invalid("iss", "is set by the transmitter and must be "+t.Issuer)
	}
	if len(in.Aud) > 0 {
		var one string
		var many []string
		if json.Unmarshal(in.Aud, &one) != nil {
			if json.Unmarshal(in.Aud, &many) != nil || len(many) != 1 {
				return invalid("aud", "is set by the transmitter: the receiver's client id")
			}
			one = many[0]
		}
		if one != clientID {
			return invalid("aud", "is set by the transmitter: the receiver's client id")
		}
	}
	return nil
}

// apply validates in and writes it over s. replace (PUT) resets what in leaves out;
// otherwise (POST, PATCH) absent members keep s's values.
func (t *Transmitter) apply(s *Stream, in StreamConfig, replace bool) error {
	creating := s.CreatedAt.IsZero()
	if in.Delivery == nil && (creating || replace) {
		return invalid("delivery", "is required: {\"method\":\""+MethodPush+"\",\"endpoint_url\":\"https://...\"} or {\"method\":\""+MethodPoll+"\"}")
	}
	if d := in.Delivery; d != nil {
		switch d.Method {
		case MethodPush, MethodPoll:
		default:
			return invalid("delivery.method", "must be "+MethodPush+" (push) or "+MethodPoll+" (poll)")
		}
		if !creating && d.Method != s.Method {
			return invalid("delivery.method", "cannot change; create a new stream instead")
		}
		s.Method = d.Method
		switch d.Method {
		case MethodPush:
			if d.EndpointURL == nil || *d.EndpointURL == "" {
				return invalid("delivery.endpoint_url", "is required for push delivery")
			}
			if len(*d.EndpointURL) > maxURLLen {
				return invalid("delivery.endpoint_url", fmt.Sprintf("must be at most %d characters", maxURLLen))
			}
			if err := access.CheckPushURL(*d.EndpointURL); err != nil {
				return invalid("delivery.endpoint_url", err.Error())
			}
			s.EndpointURL = *d.EndpointURL
			if h := d.AuthorizationHeader; h != nil {
				if len(*h) > maxAuthHeaderLen || strings.ContainsAny(*h, "\r\n\x00") {
					return invalid("delivery.authorization_header", fmt.Sprintf("must be one line of at most %d characters", maxAuthHeaderLen))
				}
				if err := t.sealHeader(s, *h); err != nil {
					return err
				}
			}
		case MethodPoll:
			// The transmitter supplies a poll stream's URL; a receiver may echo it.
			if d.EndpointURL != nil && *d.EndpointURL != "" && (creating || *d.EndpointURL != t.PollURL(s.ID)) {
				return invalid("delivery.endpoint_url", "is set by the transmitter for poll delivery; leave it out")
			}
			if d.AuthorizationHeader != nil && *d.AuthorizationHeader != "" {
				return invalid("delivery.authorization_header", "applies to push delivery only")
			}
		}
	}
	if in.EventsRequested != nil || replace {
		var ev []string
		if in.EventsRequested != nil {
			ev = *in.EventsRequested
		}
		if len(ev) > maxEventsRequested {
			return invalid("events_requested", fmt.Sprintf("at most %d event types", maxEventsRequested))
		}
		for _, e := range ev {
			if e == "" || len(e) > maxEventTypeLen {
				return invalid("events_requested", fmt.Sprintf("event types must be URIs of 1 to %d characters", maxEventTypeLen))
			}
		}
		s.EventsRequested = append([]string{}, ev...)
	}
	switch {
	case in.DefaultSubjects != nil:
		switch *in.DefaultSubjects {
		case SubjectsAll, SubjectsNone:
			s.DefaultSubjects = *in.DefaultSubjects
		default:
			return invalid("default_subjects", "must be ALL or NONE")
		}
	case creating:
		s.DefaultSubjects = SubjectsNone
	}
	if in.Description != nil || replace {
		d := ""
		if in.Description != nil {
			d = *in.Description
		}
		if len(d) > maxDescriptionLen {
			return invalid("description", fmt.Sprintf("must be at most %d characters", maxDescriptionLen))
		}
		s.Description = d
	}
	return nil
}

// sealHeader stores h as s's authorization header, encrypted and bound to s.ID; an
// empty h removes it. Either way a header still in clear (LegacyAuthorization) goes.
func (t *Transmitter) sealHeader(s *Stream, h string) error {
	s.LegacyAuthorization = ""
	if h == "" {
		s.AuthorizationSealed = nil
		return nil
	}
	if t.Secrets == nil {
		return errors.New("ssf: no key to encrypt authorization headers with (admin commands cannot store them)")
	}
	sealed, err := t.Secrets.Seal([]byte(h), s.ID)
	if err != nil {
		return fmt.Errorf("ssf: seal authorization header: %w", err)
	}
	s.AuthorizationSealed = sealed
	return nil
}

// authorization returns the header to send with s's pushes: the sealed one, opened,
// or one stored in clear before migration 00018 and not yet sealed.
func (t *Transmitter) authorization(s Stream) (string, error) {
	if len(s.AuthorizationSealed) == 0 {
		return s.LegacyAuthorization, nil
	}
	if t.Secrets == nil {
		return "", errors.New("ssf: no key to decrypt authorization headers with")
	}
	h, err := t.Secrets.Open(s.AuthorizationSealed, s.ID)
	if err != nil {
		return "", fmt.Errorf("stream %s authorization header: %w", s.ID, err)
	}
	return string(h), nil
}

// SealLegacyHeaders encrypts the authorization headers stored in clear before
// migration 00018 and empties the clear column; the server runs it at start-up, when
// it holds the key-encryption key. It returns how many it sealed. Several nodes may
// run it at once: each writes a valid ciphertext, the last one stays.
func (t *Transmitter) SealLegacyHeaders(ctx context.Context) (int, error) {
	n := 0
	err := t.Tx.InTx(ctx, func(ctx context.Context) error {
		n = 0
		streams, err := t.Streams.LegacyAuthorizations(ctx)
		if err != nil {
			return err
		}
		for _, s := range streams {
			if err := t.sealHeader(&s, s.LegacyAuthorization); err != nil {
				return err
			}
			if err := t.Streams.UpdateStream(ctx, s); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// checkEndpoint applies the outbound rule to a push endpoint in a request (the
// syntax is apply's): its host must resolve only to addresses Weft may reach.
func (t *Transmitter) checkEndpoint(ctx context.Context, in StreamConfig) error {
	d := in.Delivery
	if d == nil || d.Method != MethodPush || d.EndpointURL == nil || *d.EndpointURL == "" {
		return nil
	}
	if t.URLs == nil {
		return errors.New("ssf: no outbound URL check configured")
	}
	if err := t.URLs.CheckURL(ctx, *d.EndpointURL); err != nil {
		return invalid("delivery.endpoint_url", err.Error())
	}
	return nil
}

// CreateStream creates a stream for client clientID (SSF 1.0 section 8.1.1.1).
func (t *Transmitter) CreateStream(ctx context.Context, clientID string, in StreamConfig) (Stream, error) {
	if in.StreamID != nil {
		return Stream{}, invalid("stream_id", "is set by the transmitter; leave it out when creating a stream")
	}
	if err := t.checkEcho(in, clientID); err != nil {
		return Stream{}, err
	}
	// The id comes first: a sealed authorization header is bound to it.
	s := Stream{ID: uuid.NewString(), ClientID: clientID, Status: StatusEnabled, EventsRequested: []string{}}
	if err := t.apply(&s, in, false); err != nil {
		return Stream{}, err
	}
	if err := t.checkEndpoint(ctx, in); err != nil {
		return Stream{}, err
	}
	s.CreatedAt = t.now()
	s.UpdatedAt = s.CreatedAt
	err := t.Tx.InTx(ctx, func(ctx context.Context) error {
		// Serialise a client's creations so the limit holds under concurrency.
		if err := t.Tx.Lock(ctx, "ssf-streams:"+clientID); err != nil {
			return err
		}
		have, err := t.Streams.Streams(ctx, clientID)
		if err != nil {
			return err
		}
		if len(have) >= MaxStreamsPerClient {
			return fmt.Errorf("%w: a receiver may have at most %d streams; delete one first", identity.ErrConflict, MaxStreamsPerClient)
		}
		return t.Streams.CreateStream(ctx, s)
	})
	if err != nil {
		return Stream{}, err
	}
	return s, nil
}

// UpdateStream applies a PATCH (replace false) or PUT (replace true) to the client's
// stream in.StreamID (SSF 1.0 sections 8.1.1.3 and 8.1.1.4). Undelivered SETs follow a
// new push endpoint.
func (t *Transmitter) UpdateStream(ctx context.Context, clientID string, in StreamConfig, replace bool) (Stream, error) {
	if in.StreamID == nil || *in.StreamID == "" {
		return Stream{}, invalid("stream_id", "is required")
	}
	if err := t.checkEcho(in, clientID); err != nil {
		return Stream{}, err
	}
	// Outside the transaction: it resolves the host, which may take a while.
	if err := t.checkEndpoint(ctx, in); err != nil {
		return Stream{}, err
	}
	var out Stream
	err := t.Tx.InTx(ctx, func(ctx context.Context) error {
		s, err := t.Streams.Stream(ctx, clientID, *in.StreamID)
		if err != nil {
			return err
		}
		before := s.EndpointURL
		if err := t.apply(&s, in, replace); err != nil {
			return err
		}
		s.UpdatedAt = t.now()
		if err := t.Streams.UpdateStream(ctx, s); err != nil {
			return err
		}
		if s.Method == MethodPush && s.EndpointURL != before {
			if err := t.Queue.Retarget(ctx, s.ID, outbound.Redact(s.EndpointURL)); err != nil {
				return err
			}
		}
		out = s
		return nil
	})
	return out, err
}

// DeleteStream deletes the client's stream; its undelivered SETs are given up.
func (t *Transmitter) DeleteStream(ctx context.Context, clientID, id string) error {
	return t.Tx.InTx(ctx, func(ctx context.Context) error {
		if err := t.Streams.DeleteStream(ctx, clientID, id); err != nil {
			return err
		}
		return t.Queue.GiveUpStream(ctx, id, t.now(), "stream deleted")
	})
}

// SetStatus changes the client's stream's status (SSF 1.0 section 8.1.2.2): paused
// holds events, disabled drops them (undelivered ones too), enabled sends what was
// held. The receiver is told with a stream-updated event, which a paused stream holds
// and a disabled one drops like any other.
func (t *Transmitter) SetStatus(ctx context.Context, clientID, id, status, reason string) (Stream, error) {
	switch status {
	case StatusEnabled, StatusPaused, StatusDisabled:
	default:
		return Stream{}, invalid("status", "must be enabled, paused or disabled")
	}
	if len(reason) > maxReasonLen {
		return Stream{}, invalid("reason", fmt.Sprintf("must be at most %d characters", maxReasonLen))
	}
	var out Stream
	err := t.Tx.InTx(ctx, func(ctx context.Context) error {
		s, err := t.Streams.Stream(ctx, clientID, id)
		if err != nil {
			return err
		}
		changed := s.Status != status
		s.Status, s.StatusReason, s.UpdatedAt = status, reason, t.now()
		if err := t.Streams.UpdateStream(ctx, s); err != nil {
			return err
		}
		out = s
		if !changed {
			return nil
		}
		switch status {
		case StatusDisabled:
			if err := t.Queue.GiveUpStream(ctx, s.ID, t.now(), "stream disabled"); err != nil {
				return err
			}
		case StatusEnabled:
			if err := t.Queue.Wake(ctx, s.ID, t.now()); err != nil {
				return err
			}
		}
		body := map[string]any{"status": status}
		if reason != "" {
			body["reason"] = reason
		}
		return t.enqueue(ctx, s, event{typ: EventStreamUpdated, subject: t.streamSubject(s), body: body})
	})
	return out, err
}

// Verify queues a verification event carrying state to the client's stream (SSF 1.0
// section 8.1.4); it is sent whatever the stream requested. Requests beyond the
// stream's limit are a *RateLimitError and queue nothing; the limit is counted only
// for the caller's own streams, so no one can spend another receiver's.
func (t *Transmitter) Verify(ctx context.Context, clientID, id, state string) error {
	if len(state) > maxStateLen {
		return invalid("state", fmt.Sprintf("must be at most %d characters", maxStateLen))
	}
	t.limitOnce.Do(func() {
		if t.VerifyLimit == nil {
			t.VerifyLimit = NewLocalLimiter(verifyEvery, verifyBurst)
		}
	})
	return t.Tx.InTx(ctx, func(ctx context.Context) error {
		s, err := t.Streams.Stream(ctx, clientID, id)
		if err != nil {
			return err
		}
		if ok, wait := t.VerifyLimit.Allow(s.ID); !ok {
			return &RateLimitError{RetryAfter: wait, What: "verification requests for this stream"}
		}
		body := map[string]any{}
		if state != "" {
			body["state"] = state
		}
		return t.enqueue(ctx, s, event{typ: EventVerification, subject: t.streamSubject(s), body: body})
	})
}

// streamSubject identifies a stream in control events (SSF 1.0 section 8.1.4.1).
func (t *Transmitter) streamSubject(s Stream) map[string]any {
	return map[string]any{"format": "opaque", "id": s.ID}
}

// isNotFound reports a missing (or someone else's) stream.
func isNotFound(err error) bool { return errors.Is(err, identity.ErrNotFound) }
