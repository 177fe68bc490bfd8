package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"

	"github.com/weft-fabric/weft/access/httpserver"
	"github.com/weft-fabric/weft/access/throttle"
)

// authAttempt is one request's client authentication, carried in the context from the
// endpoint to SecretVerifier.Compare (which fosite calls with that context): who claims
// to be which client, and whether a secret was checked at all.
type authAttempt struct {
	client, ip string
	compared   atomic.Bool
	// undecided is why a secret check decided nothing (the throttle refused it, or
	// hashing was busy). fosite's introspection drops the hasher's error, so the
	// endpoint takes it from here.
	undecided atomic.Pointer[error]

	mu  sync.Mutex
	res *throttle.Reservation // the request's one reservation, taken by its first uncached check
}

type attemptKey struct{}

// withAttempt records, for the secret check fosite will make, the client id the request
// names (HTTP Basic first, then the form's client_id: the order fosite reads them in)
// and the caller's address.
func withAttempt(c echo.Context) (context.Context, *authAttempt) {
	r := c.Request()
	a := &authAttempt{ip: httpserver.ClientInfo(c, "").IP}
	if id, _, ok := r.BasicAuth(); ok {
		a.client, _ = url.QueryUnescape(id)
	} else if r.ParseForm() == nil {
		a.client = r.PostForm.Get("client_id")
	}
	return context.WithValue(r.Context(), attemptKey{}, a), a
}

func attemptFrom(ctx context.Context) *authAttempt {
	a, _ := ctx.Value(attemptKey{}).(*authAttempt)
	return a
}

func (a *authAttempt) checked() {
	if a != nil {
		a.compared.Store(true)
	}
}

// succeeded gives the request's reservation back, if it took one: one of its checks
// found the secret right.
func (a *authAttempt) succeeded(ctx context.Context) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.res != nil {
		_ = a.res.Succeeded(ctx)
		a.res = nil
	}
}

// undecidedBy records err as the reason a secret check decided nothing.
func (a *authAttempt) undecidedBy(err error) error {
	if a != nil {
		a.undecided.Store(&err)
	}
	return err
}

// explain returns, for a failed request, why its secret check decided nothing, if it
// did not; otherwise err.
func (a *authAttempt) explain(err error) error {
	if p := a.undecided.Load(); err != nil && p != nil {
		return *p
	}
	return err
}

// throttled answers 429 with Retry-After when client authentication was refused by the
// throttle, and reports whether it did. A failure that checked no secret at all (an
// unknown client id, a method the client may not use) is counted here, as Compare counts
// a wrong secret: client ids are public, and a throttle that only ever refused known
// ones would tell which are. The answer names no client and is the same for both.
func (h *Handler) throttled(c echo.Context, a *authAttempt, err error) bool {
	var re *throttle.RefusedError
	if !errors.As(err, &re) {
		if err == nil || a.compared.Load() || !clientAuthFailed(err) {
			return false
		}
		_, terr := h.ClientThrottle.Reserve(c.Request().Context(), a.client, a.ip)
		if !errors.As(terr, &re) {
			return false
		}
	}
	ctx := c.Request().Context()
	if n := throttledLogged.Add(1); n == 1 || n%1000 == 0 {
		// A flood is thousands a second: one line for the first and every thousandth.
		h.Logger.InfoContext(ctx, "client authentication throttled", "ip", a.ip, "throttled_since_start", n)
	}
	h.ClientThrottle.HoldRefusal(ctx, re)
	c.Response().Header().Set("Retry-After", strconv.Itoa(re.RetryAfterSeconds()))
	c.Response().Header().Set("Cache-Control", "no-store")
	_ = c.JSON(http.StatusTooManyRequests, map[string]string{"error": "temporarily_unavailable",
		"error_description": "Too many failed client authentications. Retry later."})
	return true
}

// throttledLogged counts throttled answers, to log a flood in samples.
var throttledLogged atomic.Int64

// clientAuthFailed recognises fosite's answer to a failed client authentication:
// invalid_client at the token and revocation endpoints, request_unauthorized at
// introspection.
func clientAuthFailed(err error) bool {
	return errors.Is(err, fosite.ErrInvalidClient) || errors.Is(err, fosite.ErrRequestUnauthorized)
}
