package access

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/ory/fosite"

	"github.com/weft-fabric/weft/identity"
)

// Selector names what a revocation reaches.
type Selector struct {
	Type  string `json:"type"`  // token, session, subject or client
	Value string `json:"value"` // the token, a sid, a user or machine identity id, a client id
}

// Revocation is a durable record of one Revoke call and what it matched.
type Revocation struct {
	ID             string
	Selector       Selector // for a token, Value is its SHA-256: the token is never stored
	Reason         string
	Suspend        bool
	Actor          string
	IdempotencyKey string
	Sessions       int64 // login sessions ended
	Tokens         int64 // grants (token selector) or codes and tokens deactivated
	CreatedAt      time.Time
	// Event is what the fan-out bus carried to the other nodes (and the durable log
	// replays to a node that was away).
	Event RevocationEvent
	// Fanout is what the answering node learned about the others; nil until recorded.
	Fanout *Acks
}

// RevocationStore persists revocations.
type RevocationStore interface {
	// CreateRevocation returns identity.ErrConflict when actor already used the key.
	CreateRevocation(ctx context.Context, r Revocation) error
	// RevocationByID returns identity.ErrNotFound if absent.
	RevocationByID(ctx context.Context, id string) (Revocation, error)
	// RevocationByKey finds an actor's earlier request with the same idempotency key.
	RevocationByKey(ctx context.Context, actor, key string) (Revocation, error)
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

// Revocations is Revoke(selector, reason): the revocation is recorded and everything it
// matches is deactivated in one transaction, and token caches on every node are
// invalidated before the caller gets its answer.
type Revocations struct {
	Store     RevocationStore
	Grants    GrantRevoker
	Lookup    TokenLookup
	Sessions  *identity.Sessions
	Directory *identity.Directory
	Clients   ClientLookup
	Tx        identity.Transactor
	// Fanout applies each committed revocation on this node and publishes it to the
	// others before the caller is answered; its Log, when set, keeps the receipts.
	Fanout *Fanout
	Audit  AuditRecorder
	// Outbox and Participants, when set, queue OIDC Back-Channel Logout messages for
	// every client of every ended session.
	Outbox       OutboxStore
	Participants SessionClients
	// Signals, when set, hears of every session a revocation ends, in its transaction
	// (SSF/CAEP session-revoked events; nil = off).
	Signals Signals
}

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
// subject or client; suspend on something that is not a user) are *identity.ValidationError
// and change nothing.
func (r *Revocations) Revoke(ctx context.Context, actor, key string, sel Selector, reason string, suspend bool) (Revocation, bool, error) {
	var sc *statusChange
	if suspend {
		sc = &statusChange{status: identity.StatusSuspended}
	}
	return r.revoke(ctx, actor, key, sel, reason, sc)
}

// revoke is Revoke with the status change of a subject spelled out (sc nil: none); see
// revocation_status.go.
func (r *Revocations) revoke(ctx context.Context, actor, key string, sel Selector, reason string, sc *statusChange) (Revocation, bool, error) {
	suspend := sc != nil
	sel.Type, sel.Value, reason = strings.TrimSpace(sel.Type), strings.TrimSpace(sel.Value), strings.TrimSpace(reason)
	switch {
	case sel.Value == "" || len(sel.Value) > 4096:
		return Revocation{}, false, invalid("selector.value", "is required")
	case reason == "" || len(reason) > 1024:
		return Revocation{}, false, invalid("reason", "is required (at most 1024 characters): say why, for the audit log")
	case len(key) > 256:
		return Revocation{}, false, invalid("Idempotency-Key", "must be at most 256 characters")
	}
	if key != "" {
		if prev, err := r.Store.RevocationByKey(ctx, actor, key); err == nil {
			return prev, true, nil
		} else if !errors.Is(err, identity.ErrNotFound) {
			return Revocation{}, false, err
		}
	}
	rec := Revocation{ID: uuid.NewString(), Selector: sel, Reason: reason, Suspend: suspend, Actor: actor,
		IdempotencyKey: key, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}

	rec.Event = RevocationEvent{ID: rec.ID, Durable: true}
	var requestID string // token selector: the grant behind the token
	switch sel.Type {
	case SelectToken:
		if suspend {
			return Revocation{}, false, invalid("suspend", "applies to a subject selector only")
		}
		sum := sha256.Sum256([]byte(sel.Value))
		rec.Selector.Value = hex.EncodeToString(sum[:])
		// An unknown or already inactive token matches nothing (RFC 7009 semantics).
		if _, ar, err := r.Lookup.IntrospectToken(ctx, sel.Value, fosite.AccessToken, NewSession("", "", "")); err == nil {
			requestID = ar.GetID()
		}
	case SelectSession:
		if _, err := r.Sessions.ByID(ctx, sel.Value); err != nil {
			return Revocation{}, false, invalid("selector.value", "no such session")
		}
	case SelectSubject:
		if _, err := r.Directory.UserByID(ctx, sel.Value); err != nil {
			if suspend {
				return Revocation{}, false, invalid("suspend", "only a user account can be suspended")
			}
			// Machine tokens carry the machine identity (or the client) as subject.
			if _, merr := r.Directory.MachineByID(ctx, sel.Value); merr != nil {
				return Revocation{}, false, invalid("selector.value", "no such user or machine identity")
			}
		}
	case SelectClient:
		if suspend {
			return Revocation{}, false, invalid("suspend", "applies to a subject selector only")
		}
		if _, err := r.Clients.Client(ctx, sel.Value); err != nil {
			return Revocation{}, false, invalid("selector.value", "no such client")
		}
	case SelectDevice:
		if suspend {
			return Revocation{}, false, invalid("suspend", "applies to a subject selector only")
		}
		if !validDeviceID(sel.Value) {
			return Revocation{}, false, invalid("selector.value", "is not a Weft device id")
		}
	default:
		return Revocation{}, false, invalid("selector.type", "must be token, session, subject, client or device")
	}

	err := r.Tx.InTx(ctx, func(ctx context.Context) error {
		// Changes made for this revocation elsewhere (a suspension) can name it.
		ctx = ContextWithRevocation(ctx, rec)
		var err error
		switch sel.Type {
		case SelectToken:
			// No security event for one token: no session or account changed, and
			// neither CAEP nor RISC has an event for a single revoked token.
			if requestID != "" {
				if err = errors.Join(r.Grants.RevokeAccessToken(ctx, requestID), r.Grants.RevokeRefreshToken(ctx, requestID)); err == nil {
					rec.Tokens = 1
					rec.Event.RequestIDs = []string{requestID}
				}
			}
		case SelectSession:
			var ls identity.LoginSession
			if ls, err = r.Sessions.ByID(ctx, sel.Value); err == nil {
				err = r.Sessions.End(ctx, sel.Value)
			}
			if err == nil {
				rec.Sessions = 1
				rec.Event.SIDs = []string{sel.Value}
				err = r.notify(ctx, sel.Value, ls.UserID, rec) // before the tokens go: they name the clients
			}
			if err == nil {
				rec.Tokens, err = r.Grants.RevokeBySessionID(ctx, sel.Value)
			}
		case SelectSubject:
			var sids []string
			if sids, err = r.Sessions.EndAllOf(ctx, sel.Value); err == nil {
				rec.Sessions = int64(len(sids))
				rec.Event.Subject, rec.Event.SIDs = sel.Value, sids
				for _, sid := range sids {
					if err = r.notify(ctx, sid, sel.Value, rec); err != nil {
						break
					}
				}
			}
			if err == nil {
				rec.Tokens, err = r.Grants.RevokeBySubject(ctx, sel.Value)
			}
			if err == nil && suspend {
				err = sc.apply(ctx, r.Directory, sel.Value)
			}
		case SelectClient:
			rec.Event.ClientID = sel.Value
			// No security event: this ends a client's tokens, not any subject's
			// session or credential. CAEP token-claims-change would misstate it (no
			// claim changed), and receivers key their state on subjects; the client
			// itself learns by its tokens failing introspection.
			rec.Tokens, err = r.Grants.RevokeByClient(ctx, sel.Value)
		case SelectDevice:
			var ended []identity.LoginSession
			if ended, err = r.Sessions.EndAllFrom(ctx, sel.Value); err == nil {
				rec.Sessions = int64(len(ended))
				for _, ls := range ended {
					rec.Event.SIDs = append(rec.Event.SIDs, ls.ID)
					if err = r.notify(ctx, ls.ID, ls.UserID, rec); err != nil {
						break
					}
					var n int64
					if n, err = r.Grants.RevokeBySessionID(ctx, ls.ID); err != nil {
						break
					}
					rec.Tokens += n
				}
			}
		}
		if err != nil {
			return err
		}
		if err := r.Store.CreateRevocation(ctx, rec); err != nil {
			return err
		}
		if r.Audit != nil {
			return r.Audit.Record(ctx, "revocation", actor, sel.Type+":"+rec.Selector.Value,
				map[string]any{"id": rec.ID, "reason": reason, "suspend": suspend, "sessions": rec.Sessions, "tokens": rec.Tokens})
		}
		return nil
	})
	if errors.Is(err, identity.ErrConflict) && key != "" {
		// A concurrent retry with the same key won; answer with its record.
		prev, perr := r.Store.RevocationByKey(ctx, actor, key)
		return prev, true, perr
	}
	if err != nil {
		return Revocation{}, false, fmt.Errorf("revoke: %w", err)
	}
	// Committed: apply it here and on every other node before anyone is told.
	if r.Fanout == nil {
		return rec, false, nil
	}
	acks, perr := r.Fanout.Publish(ctx, rec.Event)
	if log := r.Fanout.Log; log != nil {
		ctx := context.WithoutCancel(ctx)
		werr := log.RecordApplied(ctx, rec.ID, r.Fanout.Node, ViaOrigin, time.Now().UTC())
		if perr == nil {
			werr = errors.Join(werr, log.RecordFanout(ctx, rec.ID, acks))
			rec.Fanout = &acks
		}
		if werr != nil && r.Fanout.Logger != nil {
			r.Fanout.Logger.Warn("recording a revocation's receipt failed", "revocation", rec.ID, "error", werr)
		}
	}
	if perr != nil {
		return rec, false, fmt.Errorf("revocation %s is recorded and applied on this node; other nodes replay it from the durable log: %w", rec.ID, perr)
	}
	return rec, false, nil
}

// notify queues back-channel logout messages and security events for session sid.
func (r *Revocations) notify(ctx context.Context, sid, sub string, rec Revocation) error {
	if r.Signals != nil {
		if err := r.Signals.SessionRevoked(ctx, rec, sid, sub); err != nil {
			return err
		}
	}
	if r.Outbox == nil || r.Participants == nil {
		return nil
	}
	return enqueueLogouts(ctx, r.Outbox, r.Participants, r.Clients, sid, sub, rec.ID)
}

// Deliveries lists the outbox messages a revocation caused, for its receipt.
func (r *Revocations) Deliveries(ctx context.Context, id string) ([]OutboxMessage, error) {
	if r.Outbox == nil {
		return nil, nil
	}
	return r.Outbox.ByRevocation(ctx, id)
}

// Applications lists the nodes that applied revocation id, for its receipt.
func (r *Revocations) Applications(ctx context.Context, id string) ([]NodeApplication, error) {
	if r.Fanout == nil || r.Fanout.Log == nil {
		return nil, nil
	}
	return r.Fanout.Log.Applications(ctx, id)
}

// Revocation returns a recorded revocation.
func (r *Revocations) Revocation(ctx context.Context, id string) (Revocation, error) {
	return r.Store.RevocationByID(ctx, id)
}
