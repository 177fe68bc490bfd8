package revocation

import (
	"context"
	"errors"

	"github.com/ory/fosite"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/identity"
)

// target is what one selector type reaches: validate runs before the transaction (a bad
// selector changes nothing), apply inside it, filling in the record's counts and the
// event the other nodes apply.
type target interface {
	validate(ctx context.Context) error
	apply(ctx context.Context, rec *Record) error
	// redacted reports whether the selector's value is a secret (a token) that the
	// record must keep only as a hash.
	redacted() bool
}

func (s *Service) target(sel Selector) (target, error) {
	switch sel.Type {
	case SelectToken:
		return &tokenTarget{s: s, token: sel.Value}, nil
	case SelectSession:
		return &sessionTarget{s: s, sid: sel.Value}, nil
	case SelectSubject:
		return &subjectTarget{s: s, subject: sel.Value}, nil
	case SelectClient:
		return &clientTarget{s: s, clientID: sel.Value}, nil
	case SelectDevice:
		return &deviceTarget{s: s, deviceID: sel.Value}, nil
	}
	return nil, invalid("selector.type", "must be token, session, subject, client or device")
}

// tokenTarget revokes the grant behind one access or refresh token. An unknown or
// already inactive token matches nothing (RFC 7009 semantics). No security event: no
// session or account changed, and neither CAEP nor RISC has an event for one token.
type tokenTarget struct {
	s         *Service
	token     string
	requestID string
}

func (t *tokenTarget) validate(ctx context.Context) error {
	if _, ar, err := t.s.d.Lookup.IntrospectToken(ctx, t.token, fosite.AccessToken, access.NewSession("", "", "")); err == nil {
		t.requestID = ar.GetID()
	}
	return nil
}

func (t *tokenTarget) apply(ctx context.Context, rec *Record) error {
	if t.requestID == "" {
		return nil
	}
	g := t.s.d.Grants
	if err := errors.Join(g.RevokeAccessToken(ctx, t.requestID), g.RevokeRefreshToken(ctx, t.requestID)); err != nil {
		return err
	}
	rec.Tokens = 1
	rec.Event.RequestIDs = []string{t.requestID}
	return nil
}

func (t *tokenTarget) redacted() bool { return true }

// sessionTarget ends one login session and every token issued in it.
type sessionTarget struct {
	s   *Service
	sid string
}

func (t *sessionTarget) validate(ctx context.Context) error {
	if _, err := t.s.d.Sessions.ByID(ctx, t.sid); err != nil {
		return invalid("selector.value", "no such session")
	}
	return nil
}

func (t *sessionTarget) apply(ctx context.Context, rec *Record) error {
	ls, err := t.s.d.Sessions.ByID(ctx, t.sid)
	if err != nil {
		return err
	}
	if err := t.s.d.Sessions.End(ctx, t.sid); err != nil {
		return err
	}
	rec.Sessions = 1
	rec.Event.SIDs = []string{t.sid}
	// Notify before the tokens go: they name the session's clients.
	if err := t.s.notify(ctx, t.sid, ls.UserID, *rec); err != nil {
		return err
	}
	rec.Tokens, err = t.s.d.Grants.RevokeBySessionID(ctx, t.sid)
	return err
}

func (t *sessionTarget) redacted() bool { return false }

// subjectTarget ends every session of a user and revokes every grant of a user or a
// machine identity (machine tokens carry the machine identity, or the client, as subject).
type subjectTarget struct {
	s       *Service
	subject string
}

func (t *subjectTarget) validate(ctx context.Context) error {
	if _, err := t.s.d.Subjects.UserByID(ctx, t.subject); err == nil {
		return nil
	} else if !errors.Is(err, identity.ErrNotFound) {
		return err
	}
	if _, err := t.s.d.Subjects.MachineByID(ctx, t.subject); err != nil {
		if errors.Is(err, identity.ErrNotFound) {
			return invalid("selector.value", "no such user or machine identity")
		}
		return err
	}
	return nil
}

func (t *subjectTarget) apply(ctx context.Context, rec *Record) error {
	sids, err := t.s.d.Sessions.EndAllOf(ctx, t.subject)
	if err != nil {
		return err
	}
	rec.Sessions = int64(len(sids))
	rec.Event.Subject, rec.Event.SIDs = t.subject, sids
	for _, sid := range sids {
		if err := t.s.notify(ctx, sid, t.subject, *rec); err != nil {
			return err
		}
	}
	rec.Tokens, err = t.s.d.Grants.RevokeBySubject(ctx, t.subject)
	return err
}

func (t *subjectTarget) redacted() bool { return false }

// clientTarget revokes every token issued to a client. No security event: this ends a
// client's tokens, not any subject's session or credential. CAEP token-claims-change
// would misstate it (no claim changed), and receivers key their state on subjects; the
// client itself learns by its tokens failing introspection.
type clientTarget struct {
	s        *Service
	clientID string
}

func (t *clientTarget) validate(ctx context.Context) error {
	if _, err := t.s.d.Clients.Client(ctx, t.clientID); err != nil {
		return invalid("selector.value", "no such client")
	}
	return nil
}

func (t *clientTarget) apply(ctx context.Context, rec *Record) error {
	rec.Event.ClientID = t.clientID
	var err error
	rec.Tokens, err = t.s.d.Grants.RevokeByClient(ctx, t.clientID)
	return err
}

func (t *clientTarget) redacted() bool { return false }

// deviceTarget ends every login session started from one browser (its weft_device id)
// and the tokens issued in them.
type deviceTarget struct {
	s        *Service
	deviceID string
}

func (t *deviceTarget) validate(context.Context) error {
	if !identity.ValidDeviceID(t.deviceID) {
		return invalid("selector.value", "is not a Weft device id")
	}
	return nil
}

func (t *deviceTarget) apply(ctx context.Context, rec *Record) error {
	ended, err := t.s.d.Sessions.EndAllFrom(ctx, t.deviceID)
	if err != nil {
		return err
	}
	rec.Sessions = int64(len(ended))
	for _, ls := range ended {
		rec.Event.SIDs = append(rec.Event.SIDs, ls.ID)
		if err := t.s.notify(ctx, ls.ID, ls.UserID, *rec); err != nil {
			return err
		}
		n, err := t.s.d.Grants.RevokeBySessionID(ctx, ls.ID)
		if err != nil {
			return err
		}
		rec.Tokens += n
	}
	return nil
}

func (t *deviceTarget) redacted() bool { return false }
