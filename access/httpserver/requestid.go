package httpserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	"github.com/labstack/echo/v4"
)

// requestIDKey is both the log attribute and the problem member name.
const requestIDKey = "request_id"

// maxRequestIDLen bounds an accepted incoming id so a caller cannot bloat
// every log line it touches.
const maxRequestIDLen = 128

type ctxKey struct{}

// RequestID returns the request id the middleware stored in ctx, or "" if none.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// requestIDMiddleware keeps a well-formed X-Request-Id from upstream (so a
// gateway's id correlates across systems) and otherwise mints one. The id
// goes on the response and into the request's context.Context, where deeper
// code and LogHandler find it.
func requestIDMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		id := r.Header.Get(echo.HeaderXRequestID)
		if !validRequestID(id) {
			id = newRequestID()
		}
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		c.SetRequest(r.WithContext(context.WithValue(r.Context(), ctxKey{}, id)))
		return next(c)
	}
}

// validRequestID accepts 1..128 characters of [A-Za-z0-9._-]: anything else
// could smuggle separators or control characters into logs and headers.
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch b := id[i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9',
			b == '.', b == '_', b == '-':
		default:
			return false
		}
	}
	return true
}

// newRequestID returns 16 random bytes as 32 hex characters. crypto/rand
// makes ids unguessable, so one cannot be forged to collide with another
// caller's log trail.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24: it crashes the program instead
	return hex.EncodeToString(b[:])
}
