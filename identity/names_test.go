package identity

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeUsername(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"alice", "alice", true},
		{"Alice", "alice", true},
		{"ALICE", "alice", true},
		{"Ａｌｉｃｅ", "alice", true},   // full-width
		{"ﬁona", "fiona", true},    // ligature, folded by NFKC
		{"Straße", "straße", true}, // case-folded, not transliterated
		{"bob.smith_01", "bob.smith_01", true},
		{"", "", false},
		{"alice smith", "", false},                         // space
		{"alice\x00", "", false},                           // control
		{"alice\u200b", "", false},                         // zero-width space
		{strings.Repeat("a", maxUsernameLen+1), "", false}, // too long
		{"\xff\xfe", "", false},                            // invalid UTF-8
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := NormalizeUsername(tc.in)
			if tc.ok {
				if err != nil || got != tc.want {
					t.Fatalf("NormalizeUsername(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != "username" || !errors.Is(err, ErrInvalid) {
				t.Fatalf("NormalizeUsername(%q) = %q, %v; want a username ValidationError", tc.in, got, err)
			}
		})
	}
}

func TestNormalizeEmail(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"alice@example.com", "alice@example.com", true},
		{"Alice@Example.COM", "Alice@example.com", true},
		{"a.b+tag@sub.example.org", "a.b+tag@sub.example.org", true},
		{"", "", true}, // optional
		{"alice", "", false},
		{"alice@", "", false},
		{"@example.com", "", false},
		{"alice@localhost", "", false},
		{"Alice <alice@example.com>", "", false},
		{"alice@example.com ", "", false},
		{"alice@@example.com", "", false},
		{"alice@[127.0.0.1]", "", false},
		{"alice@example..com", "", false},
		{strings.Repeat("a", 250) + "@example.com", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := NormalizeEmail(tc.in)
			if tc.ok {
				if err != nil || got != tc.want {
					t.Fatalf("NormalizeEmail(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != "email" {
				t.Fatalf("NormalizeEmail(%q) = %q, %v; want an email ValidationError", tc.in, got, err)
			}
		})
	}
}

func TestCheckPassword(t *testing.T) {
	cases := []struct {
		name, user, pw string
		ok             bool
	}{
		{"long enough", "alice", "alice-demo-password-1", true},
		{"too short", "alice", "short-pw", false},
		{"eleven runes", "alice", "ééééééééééé", false},
		{"twelve runes", "alice", "éééééééééééé", true},
		{"equals username", "alicealice12", "AliceAlice12", false},
		{"too long", "alice", strings.Repeat("x", MaxPasswordLen+1), false},
		{"invalid utf8", "alice", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPassword(tc.user, tc.pw)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckPassword = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && strings.Contains(err.Error(), tc.pw) {
				t.Fatalf("error %q echoes the password", err)
			}
		})
	}
}
