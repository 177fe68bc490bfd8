package backchannel

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/outbound"
	"github.com/weft-fabric/weft/access/outbox"
)

// Kind is the outbox kind of OIDC Back-Channel Logout messages.
const Kind = "backchannel_logout"

// backchannelEvent is the events claim member that marks a logout token.
const backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

type logoutPayload struct {
	ClientID string `json:"client_id"`
	SID      string `json:"sid"`
	Subject  string `json:"sub"`
	// URL is the back-channel logout URI in full; the message's Target, which logs,
	// receipts and the audit log show, is the URI without its query. Messages queued
	// before it existed have none and are sent to Target.
	URL string `json:"url,omitempty"`
}

// Doer sends an HTTP request (access/outbound.Client).
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Sender builds and posts logout tokens (OIDC Back-Channel Logout 1.0,
// section 2.4): iss, aud, iat, exp, jti, sid, sub and the events claim, and never a
// nonce, signed at delivery time so iat is fresh on every attempt.
type Sender struct {
	Issuer string
	Sign   access.JWTSigner
	// Client is the SSRF-safe client of access/outbound: the URI is checked again at
	// connect time, redirects are not followed.
	Client Doer
}

// Deliver implements Deliverer.
func (b *Sender) Deliver(ctx context.Context, m outbox.Message) error {
	var p logoutPayload
	if err := json.Unmarshal(m.Payload, &p); err != nil {
		return fmt.Errorf("outbox payload: %w", err)
	}
	now := time.Now()
	claims := map[string]any{"iss": b.Issuer, "aud": p.ClientID, "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
		"jti": uuid.NewString(), "sid": p.SID, "events": map[string]any{backchannelEvent: map[string]any{}}}
	if p.Subject != "" {
		claims["sub"] = p.Subject
	}
	tok, err := b.Sign(ctx, claims, "logout+jwt")
	if err != nil {
		return err
	}
	target := m.Target
	if p.URL != "" {
		target = p.URL
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(url.Values{"logout_token": {tok}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("relying party answered %d", resp.StatusCode)
	}
	return nil
}

// TargetKey is the outbox target of a relying party's logout tokens: the client, so
// that one relying party that hangs holds up only its own logouts.
func TargetKey(clientID string) string { return "bcl:" + clientID }

// SessionClients lists the clients that took part in a login session (access/fositestore).
type SessionClients interface {
	ClientsOfSession(ctx context.Context, sid string) ([]string, error)
}

// Enqueue writes a logout message for every client of session sid that
// registered a back-channel logout URI, in the caller's transaction.
func Enqueue(ctx context.Context, out outbox.Store, parts SessionClients, clients access.ClientLookup, sid, sub, revocationID string) error {
	ids, err := parts.ClientsOfSession(ctx, sid)
	if err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	for _, id := range ids {
		cl, err := clients.Client(ctx, id)
		if err != nil || cl.BackchannelLogoutURI == "" {
			continue
		}
		payload, _ := json.Marshal(logoutPayload{ClientID: id, SID: sid, Subject: sub, URL: cl.BackchannelLogoutURI})
		if err := out.Enqueue(ctx, outbox.Message{ID: uuid.NewString(), Kind: Kind, Target: outbound.Redact(cl.BackchannelLogoutURI), TargetKey: TargetKey(id),
			Payload: payload, RevocationID: revocationID, NextAttemptAt: now, CreatedAt: now}); err != nil {
			return err
		}
	}
	return nil
}
