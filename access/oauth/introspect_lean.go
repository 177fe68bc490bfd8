package oauth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"

	"github.com/weft-fabric/weft/access"
)

// introspectLean answers the steady state of a gateway without fosite's request
// handling: a caller whose secret is a cached correct verdict asks about an access token
// the token storage finds active. That is almost every call a gateway makes, and fosite's
// generic path (tracing spans, error wrapping, a map-built answer) cost a quarter of the
// CPU of each one (issue 9, item 17).
//
// It decides exactly what fosite's path decides, from the same pieces: the caller comes
// from the same client lookup and secret verdicts, the token from the same storage (the
// token cache, so a revocation reaches it the same way) and is validated by the same
// strategy (HMAC or JWT signature, expiry), the gate decides, and the answer has fosite's
// fields and bytes (introspect_lean_test.go compares the two). It reports false, having
// written nothing, for anything else: a secret not yet verified, a caller that may not
// introspect, a token not found or not active, a refresh token, a scope parameter, a
// multipart body. fosite then handles the request as before, with the throttle, the
// hashing and every error answer.
func (h *Handler) introspectLean(c echo.Context, id, rawSecret string) bool {
	p := h.Provider
	if p.secrets == nil || p.tokens == nil {
		return false
	}
	r := c.Request()
	if r.Method != http.MethodPost || !isFormBody(r.Header.Get(echo.HeaderContentType)) {
		return false
	}
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		// fosite would answer the same (it parses before it authenticates anyone).
		err = fosite.ErrInvalidRequest.WithHint("Unable to parse HTTP body, make sure to send a properly formatted form request body.").WithWrap(err)
		h.logFailure(ctx, "introspection refused", err)
		p.WriteIntrospectionError(ctx, c.Response(), err)
		return true
	}
	form := r.PostForm
	tokens := form["token"]
	if len(tokens) != 1 || tokens[0] == "" || form.Get("scope") != "" {
		return false
	}
	if hint := form.Get("token_type_hint"); hint != "" && hint != string(fosite.AccessToken) {
		return false
	}
	if !h.callerVerified(ctx, id, rawSecret) {
		return false
	}
	token := tokens[0]
	sig := p.tokens.AccessTokenSignature(ctx, token)
	if sig == "" {
		return false
	}
	req := h.accessToken(ctx, sig)
	if req == nil || req.GetSession() == nil || req.GetClient() == nil {
		return false
	}
	if p.tokens.ValidateAccessToken(ctx, req, token) != nil {
		return false
	}
	ar := &fosite.AccessRequest{Request: *req} // what fosite hands on: the request as an access request
	h.lean.Add(1)
	if !h.gateAllows(c, fosite.AccessToken, ar) {
		p.WriteIntrospectionError(ctx, c.Response(), fosite.ErrInactiveToken)
		return true
	}
	writeAccessIntrospection(c.Response(), ar)
	return true
}

// tokenPeeker is token storage that can lend its cached lookups without copying them
// (revocation.TokenCache): the lean path only reads what it is lent.
type tokenPeeker interface {
	PeekAccessToken(signature string) (*fosite.Request, bool)
}

// accessToken looks up the active access token stored under sig: lent from the token
// cache when it holds it, else read from storage (which caches it for next time). Nil
// when it is not found or not active.
func (h *Handler) accessToken(ctx context.Context, sig string) *fosite.Request {
	if pk, ok := h.Provider.store.(tokenPeeker); ok {
		if req, ok := pk.PeekAccessToken(sig); ok {
			return req
		}
	}
	found, err := h.Provider.store.GetAccessTokenSession(ctx, sig, access.NewSession("", "", ""))
	if req, ok := found.(*fosite.Request); ok && err == nil {
		return req
	}
	return nil
}

// isFormBody reports a application/x-www-form-urlencoded body, parameters allowed.
func isFormBody(ct string) bool {
	const form = "application/x-www-form-urlencoded"
	if len(ct) < len(form) || !strings.EqualFold(ct[:len(form)], form) {
		return false
	}
	rest := strings.TrimLeft(ct[len(form):], " ")
	return rest == "" || rest[0] == ';'
}

// callerVerified reports whether the HTTP Basic caller (id, and the secret as sent,
// form-encoded) is a client in good standing, allowed to introspect, whose secret
// (current, or the one a rotation replaced while its overlap lasts) is a cached correct
// verdict. It hashes nothing and reserves nothing.
func (h *Handler) callerVerified(ctx context.Context, id, rawSecret string) bool {
	secret, err := url.QueryUnescape(rawSecret)
	if err != nil {
		return false
	}
	cl, err := h.Clients.Client(ctx, id)
	if err != nil || cl.Disabled() || !cl.Introspection || cl.Type == access.Public {
		return false
	}
	v := h.Provider.secrets
	if v.Verified([]byte(cl.SecretHash), []byte(secret)) {
		return true
	}
	return cl.PreviousSecretValid(time.Now()) && v.Verified([]byte(cl.PreviousSecretHash), []byte(secret))
}

// writeAccessIntrospection writes the answer fosite's WriteIntrospectionResponse writes
// for an active access token, byte for byte (its map is encoded with sorted keys and a
// trailing newline), without building a map and encoding it by reflection.
func writeAccessIntrospection(w http.ResponseWriter, ar fosite.Requester) {
	s := ar.GetSession()
	fields := make([]jsonField, 0, 12)
	fields = append(fields, jsonField{key: "active", other: true})
	extra := func(k string, v any) {
		switch k {
		case "exp", "client_id", "scope", "iat", "sub", "aud", "username":
			// fosite does not let extra claims set these.
		case "active":
			fields[0].other = v // fosite lets this one through, over its own
		default:
			if str, ok := v.(string); ok {
				fields = append(fields, jsonField{key: k, str: str, kind: jsonString})
			} else {
				fields = append(fields, jsonField{key: k, other: v})
			}
		}
	}
	if ws, ok := s.(*access.Session); ok {
		ws.RangeExtraClaims(func(k, v string) { extra(k, v) })
	} else if ec, ok := s.(fosite.ExtraClaimsSession); ok {
		for k, v := range ec.GetExtraClaims() {
			extra(k, v)
		}
	}
	if exp := s.GetExpiresAt(fosite.AccessToken); !exp.IsZero() {
		fields = append(fields, jsonField{key: "exp", num: exp.Unix(), kind: jsonInt})
	}
	if id := ar.GetClient().GetID(); id != "" {
		fields = append(fields, jsonField{key: "client_id", str: id, kind: jsonString})
	}
	if sc := ar.GetGrantedScopes(); len(sc) > 0 {
		fields = append(fields, jsonField{key: "scope", str: strings.Join(sc, " "), kind: jsonString})
	}
	if at := ar.GetRequestedAt(); !at.IsZero() {
		fields = append(fields, jsonField{key: "iat", num: at.Unix(), kind: jsonInt})
	}
	if sub := s.GetSubject(); sub != "" {
		fields = append(fields, jsonField{key: "sub", str: sub, kind: jsonString})
	}
	if aud := ar.GetGrantedAudience(); len(aud) > 0 {
		fields = append(fields, jsonField{key: "aud", other: []string(aud)})
	}
	if u := s.GetUsername(); u != "" {
		fields = append(fields, jsonField{key: "username", str: u, kind: jsonString})
	}
	slices.SortFunc(fields, func(a, b jsonField) int { return strings.Compare(a.key, b.key) })

	b := make([]byte, 0, 384)
	b = append(b, '{')
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, f.key)
		b = append(b, ':')
		switch f.kind {
		case jsonString:
			b = appendJSONString(b, f.str)
		case jsonInt:
			b = strconv.AppendInt(b, f.num, 10)
		default:
			enc, err := json.Marshal(f.other)
			if err != nil {
				enc = []byte("null") // what json.Encoder cannot encode it would not send either
			}
			b = append(b, enc...)
		}
	}
	b = append(b, '}', '\n')
	hd := w.Header()
	hd.Set("Content-Type", "application/json;charset=UTF-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Pragma", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// jsonField is one member of an introspection answer; strings and numbers are kept
// unboxed, anything else is encoded by encoding/json.
type jsonField struct {
	key   string
	kind  uint8
	str   string
	num   int64
	other any
}

const (
	jsonOther uint8 = iota
	jsonString
	jsonInt
)

// appendJSONString appends s as encoding/json would encode it (HTML-escaped): plain
// printable ASCII directly, anything else through json.Marshal.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			enc, _ := json.Marshal(s)
			return append(b, enc...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
