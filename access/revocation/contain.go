package revocation

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/identity"
)

// Containment of clients and machine identities. Revoking a client's or a machine
// identity's tokens is not enough when its credential is what leaked: the same secret
// would mint a new token the next second. Disabling stops that. The revocation service
// observes both registries, so that whichever path disables (the admin API, the CLI,
// weft apply, the revocation API's "disable": true) revokes too, in the change's
// transaction, and every node forgets what it cached about the client or machine
// identity before the caller is answered.
var (
	_ access.ClientObserver    = (*Service)(nil)
	_ identity.MachineObserver = (*Service)(nil)
)

// ClientStatusSetter disables and enables clients (access.Clients).
type ClientStatusSetter interface {
	SetStatus(ctx context.Context, id string, st access.ClientStatus) (access.Client, bool, error)
}

// MachineStatusSetter disables and enables machine identities (identity.Directory).
type MachineStatusSetter interface {
	SetMachineStatus(ctx context.Context, id string, st identity.Status) (identity.MachineIdentity, bool, error)
}

// ClientStatusChanged implements access.ClientObserver. Disabling revokes every code and
// token of the client and records a revocation (actor and reason from the context's
// identity.Change) that every node applies, which also drops the client from their
// client caches, so its secret stops working everywhere at once. Enabling revokes
// nothing; the nodes only forget the disabled client they cached.
func (s *Service) ClientStatusChanged(ctx context.Context, c access.Client, from access.ClientStatus) error {
	if !c.Disabled() {
		s.forget(ctx, Event{ClientID: c.ID})
		return nil
	}
	if rev, ok := FromContext(ctx); ok && rev.Selector.Type == SelectClient && rev.Selector.Value == c.ID {
		return nil // already inside this client's revocation
	}
	return s.contain(ctx, &clientTarget{s: s, clientID: c.ID}, Selector{Type: SelectClient, Value: c.ID},
		fmt.Sprintf("client disabled (was %s)", from))
}

// ClientSecretRotated implements access.ClientObserver: the rotation is audited (with
// how long the old secret still works), and every node forgets the cached client once
// it commits, so a secret rotated out without overlap is refused everywhere at once.
// Tokens already issued stay valid: a rotation replaces a credential; to end what it
// got, revoke the client too.
func (s *Service) ClientSecretRotated(ctx context.Context, c access.Client) error {
	_, actor, reason := attribution(ctx, "client secret rotated")
	detail := map[string]any{"reason": reason, "overlap": false}
	if c.PreviousSecretHash != "" {
		detail["overlap"], detail["previous_secret_expires_at"] = true, c.PreviousSecretExpiresAt.UTC()
	}
	if err := s.d.Audit.Record(ctx, "client.secret_rotated", actor, "client:"+c.ID, detail); err != nil {
		return err
	}
	s.forget(ctx, Event{ClientID: c.ID})
	return nil
}

// MachineStatusChanged implements identity.MachineObserver: disabling a machine
// identity revokes every token issued for it (the tokens of every client that acts for
// it) and records the revocation; every node forgets the machine identity it cached, so
// the gate refuses its tokens at once. The token endpoint refuses new ones (it reads the
// directory). Enabling revokes nothing.
func (s *Service) MachineStatusChanged(ctx context.Context, m identity.MachineIdentity, from identity.Status) error {
	if m.Status != identity.StatusDisabled {
		s.forget(ctx, Event{Subject: m.ID})
		return nil
	}
	if rev, ok := FromContext(ctx); ok && rev.Selector.Type == SelectSubject && rev.Selector.Value == m.ID {
		return nil
	}
	return s.contain(ctx, &subjectTarget{s: s, subject: m.ID}, Selector{Type: SelectSubject, Value: m.ID},
		fmt.Sprintf("machine identity disabled (was %s)", from))
}

// contain records the revocation of a disable, in ctx's transaction, and names it in
// the change's identity.Change.
func (s *Service) contain(ctx context.Context, t target, sel Selector, defaultReason string) error {
	ch, actor, reason := attribution(ctx, defaultReason)
	k, _ := ctx.Value(keyKey{}).(keyed)
	rec := s.newRecord(actor, k.key, sel, reason, false)
	rec.Disable, rec.RequestHash = true, k.hash
	if _, err := s.record(ctx, t, &rec); err != nil {
		return err
	}
	ch.Txn = rec.ID
	return nil
}

// forget tells every node, once ctx's transaction has committed, to drop what it
// cached about the event's client or subject. It is not a revocation (nothing is
// recorded): a node that misses it sees the change when its cache entry expires.
func (s *Service) forget(ctx context.Context, ev Event) {
	s.d.Tx.AfterCommit(ctx, func(ctx context.Context) {
		ev.ID = uuid.NewString()
		if _, err := s.d.Fanout.Publish(ctx, ev); err != nil {
			s.d.Logger.WarnContext(ctx, "telling the other nodes to forget a changed client failed; they see the change within their cache TTL",
				"error", err.Error())
		}
	})
}

// Disable disables the client or machine identity sel names and revokes everything it
// holds, as one transaction with one receipt (the revocation API's "disable": true),
// with the idempotency rules of Revoke. One already disabled is revoked again (its
// status stays). A subject selector must name a machine identity: a user is suspended,
// not disabled. Bad selectors are *identity.ValidationError and change nothing.
func (s *Service) Disable(ctx context.Context, clients ClientStatusSetter, machines MachineStatusSetter, actor, key string, sel Selector, reason string) (Record, bool, error) {
	if clients == nil || machines == nil {
		return Record{}, false, errors.New("revocation: Disable needs the client registry and the directory")
	}
	sel.Type, sel.Value, reason = strings.TrimSpace(sel.Type), strings.TrimSpace(sel.Value), strings.TrimSpace(reason)
	if err := checkRequest(sel, reason, key); err != nil {
		return Record{}, false, err
	}
	hash := requestHash(sel, reason, false, true)
	if prev, ok, err := s.replay(ctx, actor, key, hash); ok || err != nil {
		return prev, ok, err
	}
	var set func(ctx context.Context) (bool, error)
	switch sel.Type {
	case SelectClient:
		c, err := s.d.Clients.Client(ctx, sel.Value)
		if err != nil {
			return Record{}, false, invalid("selector.value", "no such client")
		}
		if c.Disabled() {
			return s.revoke(ctx, actor, key, sel, reason, mode{disable: true})
		}
		set = func(ctx context.Context) (bool, error) {
			_, changed, err := clients.SetStatus(ctx, sel.Value, access.ClientDisabled)
			return changed, err
		}
	case SelectSubject:
		m, err := s.d.Subjects.MachineByID(ctx, sel.Value)
		if errors.Is(err, identity.ErrNotFound) {
			if _, uerr := s.d.Subjects.UserByID(ctx, sel.Value); uerr == nil {
				return Record{}, false, invalid("disable", `applies to clients and machine identities; a user is suspended ("suspend": true)`)
			}
			return Record{}, false, invalid("selector.value", "no such user or machine identity")
		}
		if err != nil {
			return Record{}, false, err
		}
		if m.Status == identity.StatusDisabled {
			return s.revoke(ctx, actor, key, sel, reason, mode{disable: true})
		}
		set = func(ctx context.Context) (bool, error) {
			_, changed, err := machines.SetMachineStatus(ctx, sel.Value, identity.StatusDisabled)
			return changed, err
		}
	default:
		return Record{}, false, invalid("disable", "applies to a client or subject selector only")
	}
	return s.revokeByStatusChange(ctx, actor, key, hash, sel, reason, mode{disable: true}, set)
}

// ChangeClientStatus disables or enables a client as ch's actor (the admin API, the
// CLI), returning the client and, when disabling revoked, the revocation's record.
func (s *Service) ChangeClientStatus(ctx context.Context, clients ClientStatusSetter, ch identity.Change, id string, st access.ClientStatus) (access.Client, *Record, error) {
	var c access.Client
	rec, err := s.changeWithReceipt(ctx, &ch, func(ctx context.Context) error {
		var err error
		c, _, err = clients.SetStatus(ctx, id, st)
		return err
	})
	return c, rec, err
}

// ChangeMachineStatus is ChangeClientStatus for a machine identity.
func (s *Service) ChangeMachineStatus(ctx context.Context, machines MachineStatusSetter, ch identity.Change, id string, st identity.Status) (identity.MachineIdentity, *Record, error) {
	var m identity.MachineIdentity
	rec, err := s.changeWithReceipt(ctx, &ch, func(ctx context.Context) error {
		var err error
		m, _, err = machines.SetMachineStatus(ctx, id, st)
		return err
	})
	return m, rec, err
}

// changeWithReceipt runs fn in a transaction with ch, and reads back the revocation
// an observer named in it.
func (s *Service) changeWithReceipt(ctx context.Context, ch *identity.Change, fn func(ctx context.Context) error) (*Record, error) {
	if err := s.d.Tx.InTx(identity.WithChange(ctx, ch), fn); err != nil || ch.Txn == "" {
		return nil, err
	}
	rec, err := s.d.Store.RevocationByID(ctx, ch.Txn)
	if err != nil {
		return nil, fmt.Errorf("the change is made; reading its revocation's receipt: %w", err)
	}
	return &rec, nil
}
