package fositestore

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/ory/fosite"
)

// requestRow is one stored fosite request; every grant table has this shape, and the
// refresh token table adds access_signature.
type requestRow struct {
	Signature         string `gorm:"primaryKey"`
	RequestID         string
	ClientID          string
	Subject           string
	SID               *string `gorm:"column:sid"`
	RequestedAt       time.Time
	ExpiresAt         *time.Time // nil: never expires
	Active            bool
	RequestedScopes   string // JSON arrays
	GrantedScopes     string
	RequestedAudience string
	GrantedAudience   string
	Form              string // url-encoded; never log it
	SessionData       string // the fosite.Session as JSON
	AccessSignature   string // refresh tokens only
}

// toRow maps a fosite request onto a row of table k.
func toRow(k kind, signature string, r fosite.Requester) (requestRow, error) {
	if r == nil || r.GetClient() == nil {
		return requestRow{}, fmt.Errorf("store %s: request without a client", k.what)
	}
	row := requestRow{
		Signature:   signature,
		RequestID:   r.GetID(),
		ClientID:    r.GetClient().GetID(),
		RequestedAt: utc(r.GetRequestedAt()),
		Active:      true,
		Form:        r.GetRequestForm().Encode(),
	}
	if sess := r.GetSession(); sess != nil {
		row.Subject = sess.GetSubject()
		if exp := sess.GetExpiresAt(k.expiry); !exp.IsZero() {
			e := utc(exp)
			row.ExpiresAt = &e
		}
		if s, ok := sess.(SessionIDer); ok && s.SessionID() != "" {
			sid := s.SessionID()
			row.SID = &sid
		}
	}
	data, err := json.Marshal(r.GetSession())
	if err != nil {
		return row, fmt.Errorf("store %s: encode session: %w", k.what, err)
	}
	row.SessionData = string(data)
	for _, f := range []struct {
		dst *string
		src fosite.Arguments
	}{
		{&row.RequestedScopes, r.GetRequestedScopes()}, {&row.GrantedScopes, r.GetGrantedScopes()},
		{&row.RequestedAudience, r.GetRequestedAudience()}, {&row.GrantedAudience, r.GetGrantedAudience()},
	} {
		if f.src == nil {
			f.src = fosite.Arguments{}
		}
		b, err := json.Marshal(f.src)
		if err != nil {
			return row, err
		}
		*f.dst = string(b)
	}
	return row, nil
}

// toRequest rebuilds the request of row. The client is loaded again (it may have
// changed since), and the stored session is decoded into session, which may be nil
// (fosite's revocation handler passes none): the request then carries no session.
func (s *Store) toRequest(ctx context.Context, k kind, row requestRow, session fosite.Session) (*fosite.Request, error) {
	client, err := s.GetClient(ctx, row.ClientID)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k.what, err)
	}
	req := fosite.NewRequest()
	req.ID = row.RequestID
	req.RequestedAt = row.RequestedAt.UTC()
	req.Client = client
	for _, f := range []struct {
		src string
		dst *fosite.Arguments
	}{
		{row.RequestedScopes, &req.RequestedScope}, {row.GrantedScopes, &req.GrantedScope},
		{row.RequestedAudience, &req.RequestedAudience}, {row.GrantedAudience, &req.GrantedAudience},
	} {
		if err := json.Unmarshal([]byte(f.src), f.dst); err != nil {
			return nil, fmt.Errorf("%s: corrupt scope or audience column: %w", k.what, err)
		}
	}
	if req.Form, err = url.ParseQuery(row.Form); err != nil {
		return nil, fmt.Errorf("%s: corrupt form column", k.what) // no cause: it would quote the form
	}
	if session != nil {
		if err := json.Unmarshal([]byte(row.SessionData), session); err != nil {
			return nil, fmt.Errorf("%s: decode session into %T: %w", k.what, session, err)
		}
	}
	req.Session = session
	return req, nil
}

// create inserts the request r under signature into table k.
func (s *Store) create(ctx context.Context, k kind, signature string, r fosite.Requester, accessSignature string) error {
	row, err := toRow(k, signature, r)
	if err != nil {
		return err
	}
	q := s.conn(ctx).Table(k.table)
	if k.accessSig {
		row.AccessSignature = accessSignature
	} else {
		q = q.Omit("access_signature")
	}
	return translate(k, q.Create(&row).Error)
}

// get loads the request stored under signature in table k. An inactive row comes back
// with its request and k's inactive error, as fosite requires.
func (s *Store) get(ctx context.Context, k kind, signature string, session fosite.Session) (fosite.Requester, error) {
	var row requestRow
	if err := s.conn(ctx).Table(k.table).Where("signature = ?", signature).Take(&row).Error; err != nil {
		return nil, translate(k, err)
	}
	req, err := s.toRequest(ctx, k, row, session)
	if err != nil {
		return nil, err
	}
	if !row.Active && k.inactive != nil {
		return req, translate(k, errInactive)
	}
	return req, nil
}

// remove deletes the row under signature; deleting a missing row is not an error, so
// concurrent or repeated deletes (fosite's PKCE and reuse paths) stay harmless.
func (s *Store) remove(ctx context.Context, k kind, signature string) error {
	return translate(k, s.conn(ctx).Table(k.table).Where("signature = ?", signature).Delete(&requestRow{}).Error)
}

// deactivate is the atomic invalidation: it must flip exactly one active row (of
// requestID, unless that is empty), and reports errInactive (a replay, or a lost race)
// when it flips none.
func (s *Store) deactivate(ctx context.Context, k kind, signature, requestID string) error {
	q := s.conn(ctx).Table(k.table).Where("signature = ? AND active = ?", signature, true)
	if requestID != "" {
		q = q.Where("request_id = ?", requestID)
	}
	res := q.Update("active", false)
	if res.Error != nil {
		return translate(k, res.Error)
	}
	if res.RowsAffected != 1 {
		return translate(k, errInactive)
	}
	return nil
}
