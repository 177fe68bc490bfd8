package revocation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/ory/fosite"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/backchannel"
	"github.com/weft-fabric/weft/access/outbox"
	"github.com/weft-fabric/weft/identity"
)

// Selector names what a revocation reaches.
type Selector struct {
	Type  string `json:"type"`  // token, session, subject, client or device
	Value string `json:"value"` // the token, a sid, a user or machine identity id, a client id, a device id
}

// Record is a durable record of one Revoke call and what it matched.
type Record struct {
	ID       string
	Selector Selector // for a token, Value is its SHA-256: the token is never stored
	Reason   string
	Suspend  bool
	// Disable marks a revocation that also disabled its client or machine identity.
	Disable        bool
	Actor          string
	IdempotencyKey string
	// RequestHash identifies what was asked (selector, reason, suspend), so that a key
	// reused for another request is refused (ErrKeyReused); "" on records that predate it.
	RequestHash string
	// Initiator is CAEP's initiating_entity for the events the revocation causes
	// (identity.Initiator*); empty is "policy", the revocation API's automated tools.
	// It is not stored: events are queued in the revocation's own transaction.
	Initiator string
	Sessions  int64 // login sessions ended
	Tokens    int64 // grants (token selector) or codes and tokens deactivated
	CreatedAt time.Time
	// Event is what the fan-out bus carried to the other nodes (and the durable log
	// replays to a node that was away).
	Event Event
	// Fanout is what the answering node learned about the others; nil until recorded.
	Fanout *Acks
}

// Store persists revocations.
type Store interface {
	// CreateRevocation returns identity.ErrConflict when actor already used the key.
	CreateRevocation(ctx context.Context, r Record) error
	// RevocationByID returns identity.ErrNotFound if absent.
	RevocationByID(ctx context.Context, id string) (Record, error)
	// RevocationByKey finds an actor's earlier request with the same idempotency key.
	RevocationByKey(ctx context.Context, actor, key string) (Record, error)
}

// GrantRevoker deactivates codes and tokens (access/fositestore implements it).
type GrantRevoker interface {
	RevokeBySessionID(ctx context.Context, sid string) (int64, error)
	RevokeByClient(ctx context.Context, clientID string) (int64, error)
	RevokeBySubject(ctx context.Context, subject string) (int64, error)
	RevokeAccessToken(ctx context.Context, requestID string) error
	RevokeRefreshToken(ctx context.Context, requestID string) error
}

// TokenLookup finds the grant behind a token (the provider implements it).
type TokenLookup interface {
	IntrospectToken(ctx context.Context, token string, use fosite.TokenUse, session fosite.Session, scope ...string) (fosite.TokenUse, fosite.AccessRequester, error)
}

// Deps are the revocation service's collaborators; every one is required, so that no
// wiring can silently turn off back-channel logout, shared signals or the audit trail.
type Deps struct {
	Store    Store
	Grants   GrantRevoker
	Lookup   TokenLookup
	Sessions Sessions
	Subjects Subjects
	Clients  access.ClientLookup
	Tx       identity.Transactor
	// Fanout applies each committed revocation on this node and publishes it to the
	// others before the caller is answered; its log keeps the receipts.
	Fanout *Fanout
	Audit  access.AuditRecorder
	// Outbox and Participants queue OIDC Back-Channel Logout messages for every client
	// of every ended session.
	Outbox       outbox.Store
	Participants backchannel.SessionClients
	// Signals hears of every session a revocation ends, in its transaction (SSF/CAEP
	// session-revoked events).
	Signals Signals
	Logger  *slog.Logger
}

// Sessions ends login sessions (identity.Sessions implements it).
type Sessions interface {
	ByID(ctx context.Context, id string) (identity.LoginSession, error)
	End(ctx context.Context, id string) error
	EndAllOf(ctx context.Context, userID string) ([]string, error)
	EndAllFrom(ctx context.Context, deviceID string) ([]identity.LoginSession, error)
}

// Subjects finds the users and machine identities a subject selector may name
// (identity.DirectoryStore implements it; the service reads the store, not the
// Directory, because the Directory tells the service of status changes).
type Subjects interface {
	UserByID(ctx context.Context, id string) (identity.User, error)
	MachineByID(ctx context.Context, id string) (identity.MachineIdentity, error)
}

// Service is Revoke(selector, reason): the revocation is recorded and everything it
// matches is deactivated in one transaction, and token caches on every node are
// invalidated before the caller gets its answer. It is also the directory's observer
// for status changes: whatever path suspends or deprovisions a user (the admin API, the
// CLI, weft apply, SCIM later) revokes through it, in the change's own transaction.
type Service struct {
	d Deps
}

// NewService checks that every dependency is present.
func NewService(d Deps) (*Service, error) {
	if err := access.CheckDeps("revocation.NewService", map[string]bool{"Store": isNil(d.Store), "Grants": isNil(d.Grants), "Lookup": isNil(d.Lookup), "Sessions": isNil(d.Sessions),
		"Subjects": isNil(d.Subjects), "Clients": isNil(d.Clients), "Tx": isNil(d.Tx), "Fanout": isNil(d.Fanout), "Audit": isNil(d.Audit), "Outbox": isNil(d.Outbox),
		"Participants": isNil(d.Participants), "Signals": isNil(d.Signals)}); err != nil {
		return nil, err
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{d: d}, nil
}

// ErrKeyReused is returned when an actor reuses an idempotency key for a request that
// differs from the one the key was first used for: answering with the first receipt
// would tell the caller its second target was revoked when it was not.
var ErrKeyReused = errors.New("the Idempotency-Key was already used for a different revocation request")

// requestHash identifies what a request asks for, for idempotency. A request without
// disable hashes as it did before disable existed.
func requestHash(sel Selector, reason string, suspend, disable bool) string {
	in := fmt.Sprintf("%s\x00%s\x00%s\x00%t", sel.Type, sel.Value, reason, suspend)
	if disable {
		in += "\x00disable"
	}
	sum := sha256.Sum256([]byte(in))
	return hex.EncodeToString(sum[:])
}

// mode is what a request asks besides revoking: "suspend" (a user) or "disable" (a
// client or machine identity) that was already so, so only the revocation is made again.
type mode struct{ suspend, disable bool }

// Selector types.
const (
	SelectToken   = "token"
	SelectSession = "session"
	SelectSubject = "subject"
	SelectClient  = "client"
	SelectDevice  = "device"
)

// Revoke applies sel. A repeated idempotency key from the same actor returns the first
// revocation (replayed = true) and does nothing else. Bad selectors (unknown session,
// subject or client) are *identity.ValidationError and change nothing.
//
// Called inside a caller's transaction, the revocation commits with it, and is
// published to the other nodes only once it has committed.
func (s *Service) Revoke(ctx context.Context, actor, key string, sel Selector, reason string) (Record, bool, error) {
	return s.revoke(ctx, actor, key, sel, reason, mode{})
}

// revoke is Revoke; m marks the record of a "suspend" or "disable" request whose
// target was so already (the status did not change, the revocation is made again).
func (s *Service) revoke(ctx context.Context, actor, key string, sel Selector, reason string, m mode) (Record, bool, error) {
	sel.Type, sel.Value, reason = strings.TrimSpace(sel.Type), strings.TrimSpace(sel.Value), strings.TrimSpace(reason)
	if err := checkRequest(sel, reason, key); err != nil {
		return Record{}, false, err
	}
	hash := requestHash(sel, reason, m.suspend, m.disable)
	if prev, ok, err := s.replay(ctx, actor, key, hash); ok || err != nil {
		return prev, ok, err
	}
	t, err := s.target(sel)
	if err != nil {
		return Record{}, false, err
	}
	if err := t.validate(ctx); err != nil {
		return Record{}, false, err
	}
	rec := s.newRecord(actor, key, sel, reason, t.redacted())
	rec.Suspend, rec.Disable, rec.RequestHash = m.suspend, m.disable, hash
	var published func() error
	err = s.d.Tx.InTx(ctx, func(ctx context.Context) error {
		var err error
		published, err = s.record(ctx, t, &rec)
		return err
	})
	if errors.Is(err, identity.ErrConflict) && key != "" {
		// A concurrent retry with the same key won; answer with its record.
		return s.replay(ctx, actor, key, hash)
	}
	if err != nil {
		return Record{}, false, fmt.Errorf("revoke: %w", err)
	}
	return rec, false, published()
}

// EndSession ends login session sid because its user signed out (OIDC RP-Initiated
// Logout), through the same path as a session revocation, so a logout reaches every
// relying control that a revocation does: the session's tokens are revoked and dropped
// from every node's cache, its clients get back-channel logout tokens and SSF
// receivers CAEP session-revoked (initiating_entity "user"). It is recorded, and
// audited, as a revocation by actor (the user) with reason, which gives it a receipt.
// A fan-out that could not reach the other nodes is logged, not returned: the logout
// holds here and the other nodes replay it from the durable log.
func (s *Service) EndSession(ctx context.Context, actor, sid, reason string) error {
	rec := s.newRecord(actor, "", Selector{Type: SelectSession, Value: sid}, reason, false)
	rec.Initiator = identity.InitiatorUser
	var published func() error
	err := s.d.Tx.InTx(ctx, func(ctx context.Context) error {
		var err error
		published, err = s.record(ctx, &sessionTarget{s: s, sid: sid}, &rec)
		return err
	})
	if err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	var degraded *FanoutError
	if err := published(); err != nil && !errors.As(err, &degraded) {
		return err
	}
	return nil
}

func checkRequest(sel Selector, reason, key string) error {
	switch {
	case sel.Value == "" || len(sel.Value) > 4096:
		return invalid("selector.value", "is required")
	case reason == "" || len(reason) > 1024:
		return invalid("reason", "is required (at most 1024 characters): say why, for the audit log")
	case len(key) > 256:
		return invalid("Idempotency-Key", "must be at most 256 characters")
	}
	return nil
}

// replay finds an actor's earlier revocation with the same idempotency key; the key
// reused for another request (hash) is ErrKeyReused.
func (s *Service) replay(ctx context.Context, actor, key, hash string) (Record, bool, error) {
	if key == "" {
		return Record{}, false, nil
	}
	prev, err := s.d.Store.RevocationByKey(ctx, actor, key)
	switch {
	case err == nil && prev.RequestHash != "" && prev.RequestHash != hash:
		return Record{}, false, ErrKeyReused
	case err == nil:
		return prev, true, nil
	case errors.Is(err, identity.ErrNotFound):
		return Record{}, false, nil
	}
	return Record{}, false, err
}

func (s *Service) newRecord(actor, key string, sel Selector, reason string, redact bool) Record {
	id := uuid.NewString()
	if redact {
		// A token itself is never stored: its SHA-256 identifies it in the receipt.
		sum := sha256.Sum256([]byte(sel.Value))
		sel.Value = hex.EncodeToString(sum[:])
	}
	return Record{ID: id, Selector: sel, Reason: reason, Actor: actor, IdempotencyKey: key,
		CreatedAt: time.Now().UTC().Truncate(time.Microsecond), Event: Event{ID: id, Durable: true}}
}

// record applies t and writes the revocation and its audit entry in ctx's transaction.
// The publication to the other nodes waits for the outermost commit (AfterCommit); the
// returned function reports how it went once that has happened.
func (s *Service) record(ctx context.Context, t target, rec *Record) (func() error, error) {
	return s.recordIf(ctx, t, rec, false)
}

// recordIf is record; with unlessEmpty, a revocation that matched nothing (no session,
// no token) is not recorded, audited or published, and the returned function is nil.
func (s *Service) recordIf(ctx context.Context, t target, rec *Record, unlessEmpty bool) (func() error, error) {
	// Changes made for this revocation elsewhere (an SSF event) can name it.
	ctx = ContextWith(ctx, *rec)
	if err := t.apply(ctx, rec); err != nil {
		return nil, err
	}
	if unlessEmpty && rec.Sessions == 0 && rec.Tokens == 0 {
		return nil, nil
	}
	if err := s.d.Store.CreateRevocation(ctx, *rec); err != nil {
		return nil, err
	}
	if err := s.d.Audit.Record(ctx, "revocation", rec.Actor, rec.Selector.Type+":"+rec.Selector.Value,
		map[string]any{"id": rec.ID, "reason": rec.Reason, "suspend": rec.Suspend, "disable": rec.Disable, "sessions": rec.Sessions, "tokens": rec.Tokens}); err != nil {
		return nil, err
	}
	var perr error
	committed := false
	s.d.Tx.AfterCommit(ctx, func(ctx context.Context) {
		committed = true
		if perr = s.publish(ctx, rec); perr != nil {
			// Logged here too: a status change's revocation has no caller that reads it.
			s.d.Logger.WarnContext(ctx, "revocation fan-out degraded: other nodes will apply it from the durable log",
				"revocation", rec.ID, "error", perr.Error())
		}
	})
	return func() error {
		if !committed {
			return nil // an outer transaction publishes when it commits
		}
		return perr
	}, nil
}

// publish applies a committed revocation here and on every other node, and writes its
// receipt, before anyone is told.
func (s *Service) publish(ctx context.Context, rec *Record) error {
	f := s.d.Fanout
	acks, perr := f.Publish(ctx, rec.Event)
	ctx = context.WithoutCancel(ctx)
	werr := f.Log.RecordApplied(ctx, rec.ID, f.Node, ViaOrigin, time.Now().UTC())
	if perr == nil {
		werr = errors.Join(werr, f.Log.RecordFanout(ctx, rec.ID, acks))
		rec.Fanout = &acks
	}
	if werr != nil {
		s.d.Logger.WarnContext(ctx, "recording a revocation's receipt failed", "revocation", rec.ID, "error", werr)
	}
	if perr != nil {
		return &FanoutError{ID: rec.ID, Err: perr}
	}
	return nil
}

// FanoutError reports a revocation that is recorded, committed and applied on this
// node, but whose publication to the other nodes failed (the bus is down). It is not a
// failed revocation: every other node stops serving from memory once its freshness lease
// on the bus lapses, and applies the revocation from the durable log. Callers answer
// with the receipt and say the fan-out is degraded.
type FanoutError struct {
	ID  string
	Err error
}

func (e *FanoutError) Error() string {
	return fmt.Sprintf("revocation %s is recorded and applied on this node; other nodes replay it from the durable log: %v", e.ID, e.Err)
}

func (e *FanoutError) Unwrap() error { return e.Err }

// notify queues back-channel logout messages and security events for session sid.
func (s *Service) notify(ctx context.Context, sid, sub string, rec Record) error {
	if err := s.d.Signals.SessionRevoked(ctx, rec, sid, sub); err != nil {
		return err
	}
	return backchannel.Enqueue(ctx, s.d.Outbox, s.d.Participants, s.d.Clients, sid, sub, rec.ID)
}

// Deliveries lists the outbox messages a revocation caused, for its receipt.
func (s *Service) Deliveries(ctx context.Context, id string) ([]outbox.Message, error) {
	return s.d.Outbox.ByRevocation(ctx, id)
}

// Applications lists the nodes that applied revocation id, for its receipt.
func (s *Service) Applications(ctx context.Context, id string) ([]NodeApplication, error) {
	return s.d.Fanout.Log.Applications(ctx, id)
}

// Record returns a recorded revocation.
func (s *Service) Record(ctx context.Context, id string) (Record, error) {
	return s.d.Store.RevocationByID(ctx, id)
}

// isNil reports whether v is nil or a typed nil pointer, map or func.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Func, reflect.Interface, reflect.Slice:
		return rv.IsNil()
	}
	return false
}

func invalid(field, reason string) error {
	return &identity.ValidationError{Field: field, Reason: reason}
}
