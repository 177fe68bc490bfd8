// Package gatetest gives handler tests the token side of access/gate without a
// provider: fixed token strings stand for the grants the provider would find.
package gatetest

import (
	"context"

	"github.com/ory/fosite"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/gate"
)

// Tokens is a gate.Tokens over a map. Unknown tokens fail as fosite fails them.
type Tokens struct {
	grants  map[string]fosite.AccessRequester
	refresh map[string]bool
}

var _ gate.Tokens = (*Tokens)(nil)

// NewTokens returns an empty store.
func NewTokens() *Tokens {
	return &Tokens{grants: map[string]fosite.AccessRequester{}, refresh: map[string]bool{}}
}

// Mint makes token an access token of clientID for subject (the client itself when
// empty) in login session sid, with scopes granted.
func (t *Tokens) Mint(token, clientID, subject, sid string, scopes ...string) {
	if subject == "" {
		subject = clientID
	}
	r := fosite.NewAccessRequest(access.NewSession(subject, "", sid))
	r.Client = &fosite.DefaultClient{ID: clientID}
	for _, s := range scopes {
		r.GrantScope(s)
	}
	t.grants[token] = r
}

// AsRefresh makes token a refresh token: the gate must never take it as a bearer token.
func (t *Tokens) AsRefresh(token string) { t.refresh[token] = true }

// IntrospectToken implements gate.Tokens.
func (t *Tokens) IntrospectToken(_ context.Context, token string, _ fosite.TokenUse, _ fosite.Session, _ ...string) (fosite.TokenUse, fosite.AccessRequester, error) {
	r, ok := t.grants[token]
	if !ok {
		return "", nil, fosite.ErrRequestUnauthorized.WithHint("no such token")
	}
	if t.refresh[token] {
		return fosite.RefreshToken, r, nil
	}
	return fosite.AccessToken, r, nil
}
