package ssf

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/outbound"
	"github.com/weft-fabric/weft/access/outbox"
	"github.com/weft-fabric/weft/access/revocation"
	"github.com/weft-fabric/weft/identity"
)

// Transmitter turns changes into security events and queues one SET per interested
// stream in the outbox, inside the transaction of the change.
type Transmitter struct {
	Issuer  string
	Streams Store
	Queue   Queue
	Tx      identity.Transactor
	Now     func() time.Time
	// LongPoll bounds how long a poll without returnImmediately waits for events.
	LongPoll time.Duration
	// Sign signs SETs with the provider's ES256 key; Client posts pushed ones: the
	// SSRF-safe client of access/outbound (no internal addresses, no redirects).
	Sign   access.JWTSigner
	Client Doer
	// URLs decides at registration whether Weft may push to a receiver's endpoint
	// (access/outbound.Guard: https, resolving only to addresses Weft may reach).
	URLs access.PushURLChecker
	// Secrets encrypts receivers' authorization headers at rest (access/keys.SecretBox
	// under the key-encryption key). Admin commands run without it: they never store
	// or send a header.
	Secrets Sealer
	// ReasonReceivers lists the receivers (client ids) the operator trusts with the
	// free-text reasons of changes (CAEP reason_admin, such as a SOAR's "incident 4711:
	// alice"); every other receiver gets events without them (issue 9, L7).
	ReasonReceivers []string
	// VerifyLimit bounds verification requests per stream; nil limits them in
	// process (a burst of 3, then one every 10 s).
	VerifyLimit Limiter
	// MaxPending caps a stream's undelivered SETs (default DefaultMaxPending): a
	// receiver that neither takes nor acknowledges its events has its stream disabled
	// with the reason rather than growing the outbox without end.
	MaxPending int
	// Wake, if set, fires when something may have been queued (a commit on this node, a
	// revocation from another): waiting long polls look again at once rather than on
	// their next tick.
	Wake *outbox.Signal

	limitOnce sync.Once
	mu        sync.Mutex
	waiting   map[string]int // long polls waiting, per stream
}

// Doer sends an HTTP request (access/outbound.Client).
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

var (
	_ revocation.Signals       = (*Transmitter)(nil)
	_ identity.AccountObserver = (*Transmitter)(nil)
)

// PollURL is where the receiver of poll stream id polls (RFC 8936).
func (t *Transmitter) PollURL(id string) string { return t.Issuer + PathPoll + id }

// Target is where a stream's SETs go, as the receiver sees it in its configuration.
// The outbox, and so logs, receipts and the audit log, keep it without the query
// (outbound.Redact): a receiver may have put a secret there.
func (t *Transmitter) Target(s Stream) string {
	if s.Method == MethodPoll {
		return t.PollURL(s.ID)
	}
	return s.EndpointURL
}

func (t *Transmitter) now() time.Time {
	if t.Now != nil {
		return t.Now().UTC().Truncate(time.Microsecond)
	}
	return time.Now().UTC().Truncate(time.Microsecond)
}

// event is one security event before it is addressed to streams.
type event struct {
	typ     string
	subject map[string]any // sub_id (RFC 9493)
	// user is the user the event is about ("" if none): a stream with default
	// subjects NONE receives the event only if it added this user.
	user         string
	body         map[string]any
	revocationID string // txn, and the receipt it belongs to
}

// payload is what the outbox keeps of a SET: its claims, signed when it is sent, so
// that a retry or a second poll carries the same jti and iat.
type payload struct {
	Claims map[string]any `json:"claims"`
}

// emit queues ev for every receiving stream that asked for its type and may see its
// subject: streams with default subjects ALL see every subject, those with NONE only
// the users they added. Free-text reasons reach only receivers the operator trusts.
func (t *Transmitter) emit(ctx context.Context, ev event) error {
	streams, err := t.Streams.Receiving(ctx)
	if err != nil {
		return fmt.Errorf("ssf streams: %w", err)
	}
	var added map[string]bool // the streams that added ev.user, read once if needed
	for _, s := range streams {
		if !slices.Contains(s.Delivered(), ev.typ) {
			continue
		}
		if s.DefaultSubjects != SubjectsAll {
			if ev.user == "" {
				continue
			}
			if added == nil {
				ids, err := t.Streams.StreamsOfSubject(ctx, ev.user)
				if err != nil {
					return fmt.Errorf("ssf subjects: %w", err)
				}
				added = make(map[string]bool, len(ids))
				for _, id := range ids {
					added[id] = true
				}
			}
			if !added[s.ID] {
				continue
			}
		}
		out := ev
		if !slices.Contains(t.ReasonReceivers, s.ClientID) {
			out.body = withoutReasons(ev.body)
		}
		if err := t.enqueue(ctx, s, out); err != nil {
			return err
		}
	}
	return nil
}

// withoutReasons returns body without its free-text members.
func withoutReasons(body map[string]any) map[string]any {
	if _, ok := body["reason_admin"]; !ok {
		if _, ok := body["reason_user"]; !ok {
			return body
		}
	}
	out := make(map[string]any, len(body))
	for k, v := range body {
		if k != "reason_admin" && k != "reason_user" {
			out[k] = v
		}
	}
	return out
}

// DefaultMaxPending is the default cap on a stream's undelivered SETs.
const DefaultMaxPending = 10000

// enqueue queues ev for stream s, unless s is disabled (its events are dropped). A
// stream at its cap of undelivered SETs is disabled instead, with the reason: SSF lets
// a transmitter disable a stream, and the receiver sees why at the status endpoint.
func (t *Transmitter) enqueue(ctx context.Context, s Stream, ev event) error {
	if s.Status == StatusDisabled {
		return nil
	}
	limit := t.MaxPending
	if limit <= 0 {
		limit = DefaultMaxPending
	}
	n, err := t.Queue.Undelivered(ctx, s.ID, limit)
	if err != nil {
		return err
	}
	if n >= limit {
		reason := fmt.Sprintf("%d security events were waiting undelivered; enable the stream once it receives again", n)
		s.Status, s.StatusReason, s.UpdatedAt = StatusDisabled, reason, t.now()
		if err := t.Streams.UpdateStream(ctx, s); err != nil {
			return err
		}
		return t.Queue.GiveUpStream(ctx, s.ID, t.now(), "stream disabled: "+reason)
	}
	now := t.now()
	jti := uuid.NewString()
	claims := map[string]any{"iss": t.Issuer, "aud": s.ClientID, "iat": now.Unix(), "jti": jti,
		"sub_id": ev.subject, "events": map[string]any{ev.typ: ev.body}}
	if ev.revocationID != "" {
		claims["txn"] = ev.revocationID
	}
	b, err := json.Marshal(payload{Claims: claims})
	if err != nil {
		return err
	}
	m := outbox.Message{ID: jti, Kind: KindPush, Target: outbound.Redact(t.Target(s)), TargetKey: TargetKey(s.ClientID), Payload: b, RevocationID: ev.revocationID,
		NextAttemptAt: now, CreatedAt: now, StreamID: s.ID}
	if s.Method == MethodPoll {
		m.Kind, m.Pull = KindPoll, true
	}
	return t.Queue.Enqueue(ctx, m)
}

// TargetKey is the outbox target of a receiver's pushed SETs: the receiver (client),
// whatever its streams' URLs, so that a receiver that hangs holds up only its own
// streams however many it creates.
func TargetKey(clientID string) string { return "ssf:" + clientID }

// GivenUp flags a push stream whose SET the outbox gave up after its attempts ran out
// (outbox.Config.GivenUp): the stream is disabled with the reason, as SSF 1.0 section
// 8.1.2 lets a transmitter do, so its undelivered SETs are dropped, no more are
// queued for it, and the receiver sees why at the status endpoint and can enable it
// again once it is reachable. Other kinds are left alone.
func (t *Transmitter) GivenUp(ctx context.Context, m outbox.Message, reason string) error {
	if m.Kind != KindPush || m.StreamID == "" {
		return nil
	}
	s, err := t.Streams.StreamByID(ctx, m.StreamID)
	if isNotFound(err) {
		return nil
	}
	if err != nil || s.Status == StatusDisabled {
		return err
	}
	_, err = t.SetStatus(ctx, s.ClientID, s.ID, StatusDisabled, clean("delivery failed: "+reason, maxReasonLen))
	return err
}

// userSubject is the RFC 9493 iss_sub identifier of a user: the sub of their ID tokens.
func (t *Transmitter) userSubject(userID string) map[string]any {
	return map[string]any{"format": "iss_sub", "iss": t.Issuer, "sub": userID}
}

// cause describes who made a change: a revocation (the SOAR API: automated security
// tooling, so "policy", with its reason and id) or otherwise an administrator (CLI,
// admin API, fabric file).
func (t *Transmitter) cause(ctx context.Context, now time.Time) (body map[string]any, revocationID string) {
	body = map[string]any{"event_timestamp": now.Unix(), "initiating_entity": "admin"}
	if rev, ok := revocation.FromContext(ctx); ok {
		body["initiating_entity"] = identity.InitiatorPolicy
		if rev.Reason != "" {
			// CAEP reason_admin is a localizable object keyed by language tag.
			body["reason_admin"] = map[string]string{"en": rev.Reason}
		}
		return body, rev.ID
	}
	// A change made through the directory: its initiator and reason, and the revocation
	// it caused (a suspension), if any, as txn.
	if ch, ok := identity.ChangeFrom(ctx); ok {
		if ch.Initiator != "" {
			body["initiating_entity"] = ch.Initiator
		}
		if ch.Reason != "" {
			body["reason_admin"] = map[string]string{"en": ch.Reason}
		}
		return body, ch.Txn
	}
	return body, ""
}

// SessionRevoked implements revocation.Signals: CAEP session-revoked about the session of
// user sub (a complex subject: the user and the session).
func (t *Transmitter) SessionRevoked(ctx context.Context, rev revocation.Record, sid, sub string) error {
	initiator := rev.Initiator
	if initiator == "" {
		initiator = identity.InitiatorPolicy
	}
	body := map[string]any{"event_timestamp": t.now().Unix(), "initiating_entity": initiator}
	if rev.Reason != "" {
		body["reason_admin"] = map[string]string{"en": rev.Reason}
	}
	subject := map[string]any{"format": "complex", "session": map[string]any{"format": "opaque", "id": sid}}
	if sub != "" {
		subject["user"] = t.userSubject(sub)
	}
	return t.emit(ctx, event{typ: EventSessionRevoked, subject: subject, user: sub, body: body, revocationID: rev.ID})
}

// StatusChanged implements identity.AccountObserver: RISC account-disabled when an
// account is suspended or deprovisioned, account-enabled when it becomes active.
func (t *Transmitter) StatusChanged(ctx context.Context, u identity.User, from identity.Status) error {
	typ := EventAccountDisabled
	if u.Status == identity.StatusActive {
		typ = EventAccountEnabled
	} else if from != identity.StatusActive {
		return nil // suspended to deprovisioned: it was disabled already
	}
	body, revID := t.cause(ctx, t.now())
	return t.emit(ctx, event{typ: typ, subject: t.userSubject(u.ID), user: u.ID, body: body, revocationID: revID})
}

// PasswordChanged implements identity.AccountObserver: CAEP credential-change.
func (t *Transmitter) PasswordChanged(ctx context.Context, u identity.User) error {
	body, revID := t.cause(ctx, t.now())
	body["credential_type"], body["change_type"] = "password", "update"
	return t.emit(ctx, event{typ: EventCredentialChange, subject: t.userSubject(u.ID), user: u.ID, body: body, revocationID: revID})
}
