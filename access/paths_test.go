package access_test

import (
	"testing"

	"github.com/weft-fabric/weft/access"
)

// The login page goes on only to our own authorization endpoint or the gateway's way
// back (which checks its own target): never anywhere else.
func TestIsContinueURL(t *testing.T) {
	for _, tc := range []struct {
		next string
		ok   bool
	}{
		{"/oauth2/auth?client_id=x&response_type=code", true},
		{"/gateway/login?rd=https%3A%2F%2Fapp.example.com%2F", true},
		{"/gateway/login", false},
		{"/gateway/loginx?rd=x", false},
		{"/gateway/authz?x=1", false},
		{"//evil.example/gateway/login?rd=x", false},
		{"https://evil.example/oauth2/auth?x", false},
		{"/gateway/login?rd=x\r\nSet-Cookie: a=b", false},
		{"/gateway/login?rd=\\\\evil.example", false},
		{"", false},
	} {
		if got := access.IsContinueURL(tc.next); got != tc.ok {
			t.Errorf("IsContinueURL(%q) = %v, want %v", tc.next, got, tc.ok)
		}
	}
}
