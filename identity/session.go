package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strings"
	"time"
)

// LoginSession is a person's authenticated browser session at Weft. Its ID is the OIDC
// `sid` carried by every token issued in it; it is not secret (relying parties see it).
// The browser proves possession with a separate random secret, stored here only as a
// SHA-256 digest, so a leaked sid or database row cannot be replayed as a cookie.
type LoginSession struct {
	ID         string
	UserID     string
	AuthTime   time.Time
	AMR        []string // authentication methods (RFC 8176), e.g. ["pwd"]
	ACR        string
	IP         string
	UserAgent  string
	DeviceID   string // the browser's stable device cookie; empty when unknown
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	RevokedAt  *time.Time
	SecretHash []byte
	// Clients are the OAuth clients the session was used with, in id order. Only the
	// listing calls fill it (Sessions.List, Sessions.Get); Resume leaves it nil, so the
	// authorization endpoint does not pay for a join it never reads.
	Clients []string
}

// Active reports whether the session may still be used at now.
func (s LoginSession) Active(now time.Time) bool {
	return s.RevokedAt == nil && now.Before(s.ExpiresAt)
}

// SessionStore persists login sessions.
type SessionStore interface {
	// CreateSession inserts s; ErrNotFound if the user does not exist.
	CreateSession(ctx context.Context, s LoginSession) error
	// SessionByID returns ErrNotFound if absent (expired or revoked sessions are returned;
	// callers check Active).
	SessionByID(ctx context.Context, id string) (LoginSession, error)
	// TouchSession moves last_seen_at to at, but only when the stored value is older
	// than at-every and the session is not revoked, so a busy session costs at most one
	// write per interval on any number of nodes. Nothing to update is not an error.
	TouchSession(ctx context.Context, id string, at time.Time, every time.Duration) error
	// AddSessionClient records that session sid was used with clientID; idempotent.
	// ErrNotFound if the session or the client does not exist.
	AddSessionClient(ctx context.Context, sid, clientID string, at time.Time) error
	// SessionClients lists the clients a session was used with, ordered by id.
	SessionClients(ctx context.Context, sid string) ([]string, error)
	// ListSessions returns sessions matching f, with Clients filled, ordered by id
	// (keyset), and the cursor of the next page ("" on the last). now decides which
	// sessions are active.
	ListSessions(ctx context.Context, f SessionFilter, now time.Time, p Page) ([]LoginSession, string, error)
	// RevokeSession marks the session revoked; idempotent; ErrNotFound if absent.
	RevokeSession(ctx context.Context, id string, at time.Time) error
	// RevokeUserSessions revokes every live session of a user and returns their ids.
	RevokeUserSessions(ctx context.Context, userID string, at time.Time) ([]string, error)
	// RevokeDeviceSessions revokes every live session from a device and returns them.
	RevokeDeviceSessions(ctx context.Context, deviceID string, at time.Time) ([]LoginSession, error)
}

// SessionState selects sessions by whether they are still usable.
type SessionState string

// Session states for SessionFilter.
const (
	SessionsActive SessionState = "active" // neither revoked nor expired
	SessionsEnded  SessionState = "ended"  // revoked or expired
	SessionsAll    SessionState = "all"
)

// SessionFilter narrows ListSessions; empty fields match everything. IP is compared
// exactly as stored (the caller normalises it).
type SessionFilter struct {
	UserID   string
	ClientID string
	DeviceID string
	IP       string
	State    SessionState // empty: SessionsActive
}

// LastSeenEvery bounds how often a session's last_seen_at is written: activity within a
// minute of the last recorded one is not worth a write on every authorization or
// refresh.
const LastSeenEvery = time.Minute

// Sessions is the login-session service.
type Sessions struct {
	store SessionStore
	ttl   time.Duration
	now   func() time.Time
}

// NewSessions builds the service; ttl bounds a session's life from login.
func NewSessions(store SessionStore, ttl time.Duration) *Sessions {
	return &Sessions{store: store, ttl: ttl, now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
}

// ErrNoSession: the cookie names no active session (absent, expired, revoked, forged).
var ErrNoSession = errors.New("no active login session")

// Start opens a session for user after a successful authentication and returns it with
// the cookie value that proves it (shown to the browser only).
func (s *Sessions) Start(ctx context.Context, user User, amr []string, acr, ip, userAgent, deviceID string) (LoginSession, string, error) {
	id, err := randomToken(16)
	if err != nil {
		return LoginSession{}, "", err
	}
	secret, err := randomToken(32)
	if err != nil {
		return LoginSession{}, "", err
	}
	now := s.now()
	digest := sha256.Sum256([]byte(secret))
	ls := LoginSession{ID: id, UserID: user.ID, AuthTime: now, AMR: amr, ACR: acr, IP: ip,
		UserAgent: truncate(userAgent, 512), DeviceID: truncate(deviceID, 64), CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.ttl),
		SecretHash: digest[:]}
	if err := s.store.CreateSession(ctx, ls); err != nil {
		return LoginSession{}, "", err
	}
	return ls, id + "." + secret, nil
}

// Resume checks a cookie value and returns its active session, or ErrNoSession.
func (s *Sessions) Resume(ctx context.Context, cookie string) (LoginSession, error) {
	id, secret, ok := strings.Cut(cookie, ".")
	if !ok || id == "" || secret == "" || len(cookie) > 256 {
		return LoginSession{}, ErrNoSession
	}
	ls, err := s.store.SessionByID(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return LoginSession{}, ErrNoSession
	}
	if err != nil {
		return LoginSession{}, err
	}
	digest := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(digest[:], ls.SecretHash) != 1 || !ls.Active(s.now()) {
		return LoginSession{}, ErrNoSession
	}
	return ls, nil
}

// End revokes a session (logout); ending an unknown session is not an error.
func (s *Sessions) End(ctx context.Context, id string) error {
	err := s.store.RevokeSession(ctx, id, s.now())
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// EndAllOf revokes every live session of a user and returns their sids.
func (s *Sessions) EndAllOf(ctx context.Context, userID string) ([]string, error) {
	return s.store.RevokeUserSessions(ctx, userID, s.now())
}

// EndAllFrom revokes every live session from a device and returns them.
func (s *Sessions) EndAllFrom(ctx context.Context, deviceID string) ([]LoginSession, error) {
	return s.store.RevokeDeviceSessions(ctx, deviceID, s.now())
}

// Used records that the live session ls was used with clientID at the authorization
// endpoint, and moves its last-seen time (at most once per LastSeenEvery).
func (s *Sessions) Used(ctx context.Context, ls LoginSession, clientID string) error {
	now := s.now()
	if err := s.store.AddSessionClient(ctx, ls.ID, clientID, now); err != nil {
		return err
	}
	if now.Sub(ls.LastSeenAt) < LastSeenEvery {
		return nil // the row we just read is recent enough: spare the write
	}
	return s.store.TouchSession(ctx, ls.ID, now, LastSeenEvery)
}

// Seen moves the last-seen time of session sid (a refresh token of it was redeemed), at
// most once per LastSeenEvery. An unknown or ended session is left alone.
func (s *Sessions) Seen(ctx context.Context, sid string) error {
	if sid == "" {
		return nil
	}
	return s.store.TouchSession(ctx, sid, s.now(), LastSeenEvery)
}

// List returns one page of sessions matching f.
func (s *Sessions) List(ctx context.Context, f SessionFilter, p Page) ([]LoginSession, string, error) {
	switch f.State {
	case "":
		f.State = SessionsActive
	case SessionsActive, SessionsEnded, SessionsAll:
	default:
		return nil, "", invalid("active", "must be true, false or all")
	}
	return s.store.ListSessions(ctx, f, s.now(), p)
}

// Get returns a session with the clients it was used with; ErrNotFound if absent.
func (s *Sessions) Get(ctx context.Context, id string) (LoginSession, error) {
	ls, err := s.store.SessionByID(ctx, id)
	if err != nil {
		return LoginSession{}, err
	}
	if ls.Clients, err = s.store.SessionClients(ctx, id); err != nil {
		return LoginSession{}, err
	}
	return ls, nil
}

// Now is the service's clock, for callers that judge Active.
func (s *Sessions) Now() time.Time { return s.now() }

// ByID returns a session by its sid.
func (s *Sessions) ByID(ctx context.Context, id string) (LoginSession, error) {
	return s.store.SessionByID(ctx, id)
}

func randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
