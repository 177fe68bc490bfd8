package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ory/fosite"
)

// maxAssertionLifetime bounds how far in the future a client assertion may expire. An
// assertion is a bearer credential until it expires, and its jti is kept that long to
// refuse replays: ten-year assertions are stolen credentials waiting to happen. An hour
// admits the client libraries that default to one.
const maxAssertionLifetime = time.Hour

// assertionAudience routes private_key_jwt assertions (RFC 7523) by their audience, as
// draft-ietf-oauth-rfc7523bis asks: the issuer identifier is the audience clients
// should use, the token endpoint stays accepted for compatibility, and an assertion
// with several audiences is refused, because an assertion a client made for another
// server (the audience-injection attack) could otherwise be replayed here. Both
// strategies verify the signature; this only chooses which audience they require.
func assertionAudience(issuer string, byTokenURL, byIssuer fosite.ClientAuthenticationStrategy) fosite.ClientAuthenticationStrategy {
	return func(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
		a := form.Get("client_assertion")
		if a == "" {
			return byTokenURL(ctx, r, form)
		}
		claims, ok := peekAssertion(a)
		if !ok {
			return byTokenURL(ctx, r, form) // fosite explains what is malformed
		}
		if len(claims.aud) > 1 {
			return nil, fosite.ErrInvalidClient.WithHint("The client assertion must name exactly one audience: the issuer identifier.")
		}
		if claims.exp > 0 && time.Until(time.Unix(claims.exp, 0)) > maxAssertionLifetime {
			return nil, fosite.ErrInvalidClient.WithHint("The client assertion expires too far in the future: at most one hour is accepted.")
		}
		if len(claims.aud) == 1 && claims.aud[0] == issuer {
			return byIssuer(ctx, r, form)
		}
		return byTokenURL(ctx, r, form)
	}
}

type assertionClaims struct {
	aud []string
	exp int64
}

// peekAssertion reads the audience and expiry of a compact JWT without verifying it:
// the values only choose a stricter path, and the chosen strategy verifies everything.
func peekAssertion(s string) (assertionClaims, bool) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return assertionClaims{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return assertionClaims{}, false
	}
	var c struct {
		Aud json.RawMessage `json:"aud"`
		Exp json.Number     `json:"exp"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return assertionClaims{}, false
	}
	var out assertionClaims
	var one string
	if err := json.Unmarshal(c.Aud, &one); err == nil {
		out.aud = []string{one}
	} else if err := json.Unmarshal(c.Aud, &out.aud); err != nil && len(c.Aud) > 0 {
		return assertionClaims{}, false
	}
	if f, err := c.Exp.Float64(); err == nil {
		out.exp = int64(f)
	}
	return out, true
}
