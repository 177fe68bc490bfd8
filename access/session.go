package access

import (
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/mohae/deepcopy"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"
)

// Session is what fosite stores with every code and token Weft issues: the OIDC claims
// plus the login session (`sid`) it belongs to, so that a later revocation of the login
// session reaches every token issued in it. Machine tokens (client_credentials) carry no
// sid: they are bound to their client.
type Session struct {
	*openid.DefaultSession `json:"oidc"`
	SID                    string `json:"sid,omitempty"`
	// ClientID is the client the tokens were issued to (the client_id claim of JWT
	// access tokens).
	ClientID string `json:"client_id,omitempty"`
}

var _ fosite.Session = (*Session)(nil)

// NewSession returns a session for subject; sid is empty for machine tokens.
func NewSession(subject, username, sid string) *Session {
	return &Session{
		DefaultSession: &openid.DefaultSession{
			Claims:   &jwt.IDTokenClaims{Subject: subject, Extra: map[string]interface{}{}},
			Headers:  &jwt.Headers{Extra: map[string]interface{}{}},
			Subject:  subject,
			Username: username,
		},
		SID: sid,
	}
}

// SessionID is the OIDC sid; the token store indexes it for revocation by session.
func (s *Session) SessionID() string { return s.SID }

// Clone implements fosite.Session; fosite clones sessions before storing them.
func (s *Session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	c := *s
	if s.DefaultSession != nil {
		c.DefaultSession = cloneOIDC(s.DefaultSession)
	}
	return &c
}

// cloneOIDC is openid.DefaultSession.Clone written out. fosite's uses a reflective deep
// copy, and every token lookup served from memory clones its session: that copy was a
// tenth of the CPU of a cached introspection. Every reference is copied, so the clone
// shares nothing mutable with s (TestSession_CloneSharesNothing).
func cloneOIDC(s *openid.DefaultSession) *openid.DefaultSession {
	c := *s
	if s.Claims != nil {
		cl := *s.Claims
		cl.Audience = slices.Clone(s.Claims.Audience)
		cl.AuthenticationMethodsReferences = slices.Clone(s.Claims.AuthenticationMethodsReferences)
		cl.Extra = cloneExtra(s.Claims.Extra)
		c.Claims = &cl
	}
	if s.Headers != nil {
		h := *s.Headers
		h.Extra = cloneExtra(s.Headers.Extra)
		c.Headers = &h
	}
	c.ExpiresAt = maps.Clone(s.ExpiresAt)
	return &c
}

func cloneExtra(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = cloneValue(v)
	}
	return out
}

// cloneValue copies the values claims hold (what JSON decodes to, and what Weft puts
// there); anything else takes the reflective copy fosite would have made.
func cloneValue(v any) any {
	switch x := v.(type) {
	case nil, string, bool, float64, int, int64, json.Number, time.Time:
		return x
	case []string:
		return slices.Clone(x)
	case []any:
		if x == nil {
			return x
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneValue(e)
		}
		return out
	case map[string]any:
		return cloneExtra(x)
	default:
		return deepcopy.Copy(x)
	}
}

// GetExtraClaims adds sid and token_type to introspection responses (RFC 7662).
func (s *Session) GetExtraClaims() map[string]interface{} {
	out := map[string]interface{}{}
	s.RangeExtraClaims(func(k, v string) { out[k] = v })
	return out
}

// RangeExtraClaims calls fn with each claim GetExtraClaims returns, without building
// the map: the lean introspection path writes them straight into its answer.
func (s *Session) RangeExtraClaims(fn func(key, value string)) {
	fn("token_type", "Bearer")
	if s.SID != "" {
		fn("sid", s.SID)
	}
}

// GetJWTClaims implements oauth2.JWTSessionContainer for JWT access tokens (RFC 9068):
// sub, client_id and sid; fosite adds iss, iat, exp, scope, aud and jti.
func (s *Session) GetJWTClaims() jwt.JWTClaimsContainer {
	extra := map[string]interface{}{"client_id": s.ClientID}
	if s.SID != "" {
		extra["sid"] = s.SID
	}
	if s.Claims != nil && !s.Claims.AuthTime.IsZero() {
		extra["auth_time"] = s.Claims.AuthTime.Unix()
	}
	return &accessClaims{JWTClaims: &jwt.JWTClaims{Subject: s.Subject, Extra: extra}, defaultAudience: s.ClientID}
}

// accessClaims keeps an audience in JWT access tokens: RFC 9068 requires aud, and
// fosite would set it to the granted audience even when that is empty. Without a
// requested resource, the audience is the client itself.
type accessClaims struct {
	*jwt.JWTClaims
	defaultAudience string
}

func (c *accessClaims) With(expiry time.Time, scope, audience []string) jwt.JWTClaimsContainer {
	c.JWTClaims.With(expiry, scope, audience)
	if len(c.Audience) == 0 && c.defaultAudience != "" {
		c.Audience = []string{c.defaultAudience}
	}
	return c
}

// GetJWTHeader marks JWT access tokens with typ at+jwt (RFC 9068 section 2.1), so they
// cannot be confused with ID tokens.
func (s *Session) GetJWTHeader() *jwt.Headers {
	return &jwt.Headers{Extra: map[string]interface{}{"typ": "at+jwt"}}
}
