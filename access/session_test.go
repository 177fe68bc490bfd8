package access_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"

	"github.com/weft-fabric/weft/access"
)

type customClaim struct{ Level int }

func fullSession() *access.Session {
	now := time.Now().UTC()
	return &access.Session{SID: "sid-1", ClientID: "demo-web", DefaultSession: &openid.DefaultSession{
		Claims: &jwt.IDTokenClaims{JTI: "j", Issuer: "https://id.example", Subject: "alice", Audience: []string{"demo-web"},
			Nonce: "n", ExpiresAt: now, IssuedAt: now, RequestedAt: now, AuthTime: now, AccessTokenHash: "at",
			AuthenticationContextClassReference: "acr", AuthenticationMethodsReferences: []string{"pwd"}, CodeHash: "c",
			Extra: map[string]any{"groups": []string{"weft-admins"}, "nested": map[string]any{"list": []any{"a", map[string]any{"b": 1.0}}},
				"custom": &customClaim{Level: 2}, "n": 3.0}},
		Headers:   &jwt.Headers{Extra: map[string]any{"kid": "k1"}},
		ExpiresAt: map[fosite.TokenType]time.Time{fosite.AccessToken: now},
		Username:  "alice", Subject: "alice",
	}}
}

// TestSession_CloneSharesNothing: the clone equals the session, and changing anything
// reachable from the clone leaves the session as it was (the token cache hands clones to
// every request).
func TestSession_CloneSharesNothing(t *testing.T) {
	s := fullSession()
	c := s.Clone().(*access.Session)
	if !reflect.DeepEqual(s, c) {
		t.Fatalf("clone differs:\n%+v\n%+v", s.DefaultSession, c.DefaultSession)
	}
	cl := c.DefaultSession.Claims
	cl.Audience[0] = "x"
	cl.AuthenticationMethodsReferences[0] = "x"
	cl.Extra["groups"].([]string)[0] = "x"
	cl.Extra["nested"].(map[string]any)["list"].([]any)[1].(map[string]any)["b"] = 2.0
	cl.Extra["custom"].(*customClaim).Level = 9
	cl.Extra["added"] = true
	cl.Subject = "mallory"
	c.DefaultSession.Headers.Extra["kid"] = "x"
	c.DefaultSession.ExpiresAt[fosite.RefreshToken] = time.Time{}
	c.DefaultSession.Subject = "mallory"
	if !reflect.DeepEqual(s, fullSessionLike(s)) {
		t.Fatal("changing the clone changed the session")
	}
	if (&access.Session{}).Clone().(*access.Session).DefaultSession != nil {
		t.Fatal("a session without OIDC claims gained some")
	}
}

// fullSessionLike is fullSession with s's times, for comparison.
func fullSessionLike(s *access.Session) *access.Session {
	f := fullSession()
	f.DefaultSession.Claims.ExpiresAt, f.DefaultSession.Claims.IssuedAt = s.DefaultSession.Claims.ExpiresAt, s.DefaultSession.Claims.IssuedAt
	f.DefaultSession.Claims.RequestedAt, f.DefaultSession.Claims.AuthTime = s.DefaultSession.Claims.RequestedAt, s.DefaultSession.Claims.AuthTime
	f.DefaultSession.ExpiresAt = map[fosite.TokenType]time.Time{fosite.AccessToken: s.DefaultSession.ExpiresAt[fosite.AccessToken]}
	return f
}

func BenchmarkSession_Clone(b *testing.B) {
	s := fullSession()
	delete(s.DefaultSession.Claims.Extra, "custom") // Weft's own claims only
	b.ReportAllocs()
	for b.Loop() {
		_ = s.Clone()
	}
}
