package identity

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"
	"golang.org/x/text/unicode/norm"
)

// Length limits keep rows and log lines bounded; they are checked after normalisation.
const (
	maxUsernameLen    = 64
	maxNameLen        = 128
	maxEmailLen       = 254 // RFC 5321 path limit
	maxDisplayNameLen = 256
	maxDescriptionLen = 1024
)

// NormalizeUsername returns the canonical form used to compare usernames: the PRECIS
// UsernameCaseMapped profile (RFC 8265: width mapping, NFC, case folding), plus NFKC so
// compatibility forms (ligatures, circled letters) collide too. "Alice", "alice" and
// the full-width "Ａｌｉｃｅ" all normalise to "alice". Spaces, control characters and
// other characters the profile forbids are rejected with ErrInvalid.
func NormalizeUsername(s string) (string, error) {
	if s == "" {
		return "", invalid("username", "must not be empty")
	}
	if !utf8.ValidString(s) {
		return "", invalid("username", "must be valid UTF-8")
	}
	n, err := precis.UsernameCaseMapped.String(norm.NFKC.String(s))
	if err != nil {
		return "", invalid("username", "may contain only letters, digits and symbols without spaces or control characters")
	}
	if utf8.RuneCountInString(n) > maxUsernameLen {
		return "", invalid("username", fmt.Sprintf("must be at most %d characters", maxUsernameLen))
	}
	return n, nil
}

// NormalizeName canonicalises group and machine identity names with the same rules as
// usernames, so names that look alike cannot coexist.
func NormalizeName(field, s string) (string, error) {
	n, err := NormalizeUsername(s)
	if err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			return "", invalid(field, ve.Reason)
		}
		return "", err
	}
	if utf8.RuneCountInString(n) > maxNameLen {
		return "", invalid(field, fmt.Sprintf("must be at most %d characters", maxNameLen))
	}
	return n, nil
}

// NormalizeEmail validates a bare address (no display name, no comments) and returns it
// with the domain lower-cased; the local part keeps its case, as RFC 5321 allows it to
// matter. The empty string is allowed: email is optional.
func NormalizeEmail(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if len(s) > maxEmailLen {
		return "", invalid("email", fmt.Sprintf("must be at most %d bytes", maxEmailLen))
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s {
		return "", invalid("email", "must be a plain address such as name@example.com")
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], strings.ToLower(s[at+1:])
	// net/mail accepts single-label domains and IP literals; a directory wants a
	// routable DNS name.
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, "[") ||
		strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", invalid("email", "must have a domain such as example.com")
	}
	return local + "@" + domain, nil
}

// EmailKey is the case-insensitive key used to keep emails unique.
func EmailKey(email string) string { return strings.ToLower(email) }

func checkText(field, s string, max int) error {
	if !utf8.ValidString(s) {
		return invalid(field, "must be valid UTF-8")
	}
	if utf8.RuneCountInString(s) > max {
		return invalid(field, fmt.Sprintf("must be at most %d characters", max))
	}
	for _, r := range s {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return invalid(field, "must not contain control characters")
		}
	}
	return nil
}
