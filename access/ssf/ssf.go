package ssf

import (
	"context"
	"slices"
	"time"

	"github.com/weft-fabric/weft/access/outbox"
)

// Scope lets a client manage its SSF streams and poll them.
const Scope = "weft:ssf"

// SpecVersion is the SSF version this transmitter implements.
const SpecVersion = "1_0"

// Delivery methods (SSF 1.0 section 6.1).
const (
	MethodPush = "urn:ietf:rfc:8935"
	MethodPoll = "urn:ietf:rfc:8936"
)

// Outbox kinds of SETs.
const (
	KindPush = "ssf_push"
	KindPoll = "ssf_poll"
)

// Event types.
const (
	EventSessionRevoked    = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
	EventCredentialChange  = "https://schemas.openid.net/secevent/caep/event-type/credential-change"
	EventTokenClaimsChange = "https://schemas.openid.net/secevent/caep/event-type/token-claims-change"
	EventAccountDisabled   = "https://schemas.openid.net/secevent/risc/event-type/account-disabled"
	EventAccountEnabled    = "https://schemas.openid.net/secevent/risc/event-type/account-enabled"
	EventVerification      = "https://schemas.openid.net/secevent/ssf/event-type/verification"
	EventStreamUpdated     = "https://schemas.openid.net/secevent/ssf/event-type/stream-updated"
)

// Supported lists the event types Weft sends. token-claims-change is left out on
// purpose: nothing in Weft changes a live token's claims yet, and advertising an event
// that never comes would mislead receivers into relying on it.
var Supported = []string{EventSessionRevoked, EventCredentialChange, EventAccountDisabled, EventAccountEnabled,
	EventVerification, EventStreamUpdated}

// Stream statuses (SSF 1.0 section 8.1.2).
const (
	StatusEnabled  = "enabled"
	StatusPaused   = "paused"   // events are held and sent once enabled again
	StatusDisabled = "disabled" // events are dropped
)

// Which subjects a stream receives events about (SSF 1.0 default_subjects, set per
// stream in Weft). New streams default to SubjectsNone (issue 9, L7): a receiver adds
// the users it relates to with the add-subject endpoint.
const (
	SubjectsAll  = "ALL"
	SubjectsNone = "NONE"
)

// Stream is one receiver's event stream.
type Stream struct {
	ID       string
	ClientID string // the receiver: owner and audience
	Method   string
	// EndpointURL is where push streams are sent; empty for poll streams, whose URL
	// is the transmitter's (Transmitter.PollURL).
	EndpointURL string
	// AuthorizationSealed is the Authorization header sent with each push, encrypted
	// by Transmitter.Secrets and bound to the stream id; receivers never see it back.
	AuthorizationSealed []byte
	// LegacyAuthorization is a header stored in clear before migration 00018; the
	// server seals it at start-up (SealLegacyHeaders). Nothing writes a new one.
	LegacyAuthorization string
	// DefaultSubjects is SubjectsAll (every subject's events) or SubjectsNone (only
	// the subjects the receiver added).
	DefaultSubjects string
	EventsRequested []string
	Description     string
	Status          string
	StatusReason    string
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Delivered is what the stream receives: requested ∩ supported, in requested order.
func (s Stream) Delivered() []string {
	out := []string{}
	for _, e := range s.EventsRequested {
		if slices.Contains(Supported, e) && !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

// Store persists streams (access/sqlstore implements it).
type Store interface {
	CreateStream(ctx context.Context, s Stream) error
	// Stream returns the client's stream; identity.ErrNotFound when there is none, or
	// when it belongs to another client.
	Stream(ctx context.Context, clientID, id string) (Stream, error)
	// StreamByID returns any client's stream (for delivery); identity.ErrNotFound if absent.
	StreamByID(ctx context.Context, id string) (Stream, error)
	// Streams lists the client's streams, oldest first.
	Streams(ctx context.Context, clientID string) ([]Stream, error)
	// Receiving lists every stream that is not disabled, to fan an event out to.
	Receiving(ctx context.Context) ([]Stream, error)
	// UpdateStream replaces a stream's mutable fields; identity.ErrNotFound if absent.
	UpdateStream(ctx context.Context, s Stream) error
	// DeleteStream removes the client's stream (and its subjects); identity.ErrNotFound
	// if absent.
	DeleteStream(ctx context.Context, clientID, id string) error
	// LegacyAuthorizations lists the streams whose authorization header is still
	// stored in clear (written before migration 00018).
	LegacyAuthorizations(ctx context.Context) ([]Stream, error)

	// AddSubject records that stream streamID receives events about user sub; adding
	// a subject twice is not an error.
	AddSubject(ctx context.Context, streamID, sub string, at time.Time) error
	// RemoveSubject forgets user sub for the stream; removing an absent one is not an
	// error.
	RemoveSubject(ctx context.Context, streamID, sub string) error
	// CountSubjects counts the stream's subjects.
	CountSubjects(ctx context.Context, streamID string) (int64, error)
	// StreamsOfSubject lists the ids of the streams that added user sub.
	StreamsOfSubject(ctx context.Context, sub string) ([]string, error)
}

// Sealer encrypts secrets bound to a row (access/keys.SecretBox).
type Sealer interface {
	Seal(plaintext []byte, bind string) ([]byte, error)
	Open(sealed []byte, bind string) ([]byte, error)
}

// Queue is what streams need of the outbox beyond outbox.Store (access/sqlstore's
// Outbox implements both). Message ids are the SETs' jti.
type Queue interface {
	outbox.Store
	// Pending returns up to limit of the stream's pull messages that are neither
	// acknowledged nor given up, oldest first.
	Pending(ctx context.Context, streamID string, limit int) ([]outbox.Message, error)
	// Served counts one more attempt for each message handed to the receiver.
	Served(ctx context.Context, ids []string) error
	// Acknowledge marks the stream's pending pull messages with these ids delivered
	// at at, recording lastError if the receiver reported one; ids that are not the
	// stream's are ignored. It returns how many it marked.
	Acknowledge(ctx context.Context, streamID string, ids []string, at time.Time, lastError string) (int64, error)
	// Wake makes the stream's waiting push messages due at now (a resumed stream).
	Wake(ctx context.Context, streamID string, now time.Time) error
	// GiveUpStream gives up every undelivered message of the stream.
	GiveUpStream(ctx context.Context, streamID string, at time.Time, reason string) error
	// Undelivered counts the stream's messages that are neither delivered (or
	// acknowledged) nor given up, counting no further than limit.
	Undelivered(ctx context.Context, streamID string, limit int) (int, error)
	// Retarget points the stream's undelivered messages at a new URL.
	Retarget(ctx context.Context, streamID, target string) error
}

// Endpoint paths.
const (
	PathConfiguration = "/.well-known/ssf-configuration"
	PathStream        = "/ssf/stream"
	PathStatus        = "/ssf/status"
	PathVerify        = "/ssf/verify"
	PathPoll          = "/ssf/poll/" // + stream id
	// SSF 1.0 section 8.1.3 add and remove subject endpoints.
	PathAddSubject    = "/ssf/subjects:add"
	PathRemoveSubject = "/ssf/subjects:remove"
)
