package ui

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/httpserver"
	"github.com/weft-fabric/weft/access/throttle"
	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/password"
)

type loginView struct {
	Title      string
	ClientName string
	CSRF       string
	Next       string
	Username   string
	Error      string
}

// acrPassword is the assurance of a password-only login: NIST SP 800-63B AAL1, named
// with the URI the U.S. federal identity community uses for it.
const acrPassword = "http://idmanagement.gov/ns/assurance/aal/1"

// badCredentials is the only message a failed login shows: it does not say whether the
// account exists, is suspended or the password was wrong.
const badCredentials = "The username or password is incorrect."

func (p *Pages) loginView(c echo.Context, next, username, errMsg string) loginView {
	v := loginView{Title: "Sign in", CSRF: p.Cookies.CSRF(c.Response(), c.Request()), Next: next, Username: username, Error: errMsg}
	if u, err := url.Parse(next); err == nil {
		q := u.Query()
		if cl, err := p.Clients.Client(c.Request().Context(), q.Get("client_id")); err == nil {
			v.ClientName = cl.Name
		}
		if v.Username == "" && len(q.Get("login_hint")) <= 256 {
			v.Username = q.Get("login_hint") // OIDC Core 3.1.2.1: prefill, never trust
		}
	}
	return v
}

// tooMany answers a throttled login: 429 with Retry-After, and the form again.
func (p *Pages) tooMany(c echo.Context, next, username string, retryAfter int) error {
	c.Response().Header().Set("Retry-After", strconv.Itoa(retryAfter))
	return render(c, http.StatusTooManyRequests, "login.html",
		p.loginView(c, next, username, "Too many attempts. Wait a minute and try again."))
}

func (p *Pages) loginPage(c echo.Context) error {
	next := c.QueryParam("next")
	if !access.IsContinueURL(next) {
		return renderError(c, http.StatusBadRequest, "This sign-in link is not valid. Start again from the application.")
	}
	return render(c, http.StatusOK, "login.html", p.loginView(c, next, "", ""))
}

func (p *Pages) login(c echo.Context) error {
	r := c.Request()
	ctx := r.Context()
	next := r.PostFormValue("next")
	if !p.Cookies.CheckCSRF(r) {
		return renderError(c, http.StatusForbidden, "Your session expired or the form was not sent by this site. Go back and try again.")
	}
	if !access.IsContinueURL(next) {
		return renderError(c, http.StatusBadRequest, "This sign-in link is not valid. Start again from the application.")
	}
	username := r.PostFormValue("username")
	client := httpserver.ClientInfo(c, p.Cookies.DeviceCookieName())
	ip := client.IP
	leave, ok := p.Limiter.enter(ip)
	if !ok {
		return p.tooMany(c, next, username, 1)
	}
	defer leave()
	// Reserved before the password is checked and kept if it is wrong: concurrent
	// guesses cannot all pass a check made before any of them failed.
	account := accountKey(username)
	attempt, err := p.Limiter.throttle.Reserve(ctx, account, ip, client.DeviceID)
	var refused *throttle.RefusedError
	if errors.As(err, &refused) {
		p.Logger.InfoContext(ctx, "login throttled", "ip", ip)
		return p.tooMany(c, next, username, refused.RetryAfterSeconds())
	}
	if err != nil {
		return err
	}
	if err := p.Limiter.wait(ctx, attempt.Delay); err != nil {
		attempt.Cancel(context.WithoutCancel(ctx))
		return err
	}
	user, err := p.Directory.Authenticate(ctx, username, r.PostFormValue("password"))
	if errors.Is(err, identity.ErrInvalidCredentials) {
		p.Logger.InfoContext(ctx, "login failed", "ip", ip)
		return render(c, http.StatusUnauthorized, "login.html", p.loginView(c, next, username, badCredentials))
	}
	if err != nil {
		// Nothing was decided about this password: not a failure.
		attempt.Cancel(context.WithoutCancel(ctx))
	}
	if errors.Is(err, password.ErrBusy) {
		// Too many sign-ins are being checked at once: nothing was decided about this
		// one. Say so kindly, keep what was typed (but the password), and let the
		// browser retry shortly.
		c.Response().Header().Set("Retry-After", "1")
		return render(c, http.StatusServiceUnavailable, "login.html",
			p.loginView(c, next, username, "Weft is very busy right now. Wait a moment and sign in again."))
	}
	if err != nil {
		return err
	}
	if err := attempt.Succeeded(ctx); err != nil {
		p.Logger.WarnContext(ctx, "login throttle: giving back a reservation failed", "error", err.Error())
	}
	// Device, not client.DeviceID: a first login must also set the cookie. Both read
	// the same cookie by the same rule, so they agree whenever the browser has one.
	device := p.Cookies.Device(c.Response(), r)
	// This browser may now skip the account's delay: a guesser elsewhere slows the
	// account for everyone but the browsers it was used in.
	if err := p.Limiter.throttle.RememberDevice(ctx, account, device); err != nil {
		p.Logger.WarnContext(ctx, "login throttle: remembering the device failed", "error", err.Error())
	}
	ls, cookie, err := p.Sessions.Start(ctx, user, []string{"pwd"}, acrPassword, ip, client.UserAgent, device)
	if err != nil {
		return err
	}
	p.Cookies.SetSession(c.Response(), cookie, ls.ExpiresAt)
	p.Logger.InfoContext(ctx, "login", "user_id", user.ID, "sid", ls.ID, "ip", ip)
	return c.Redirect(http.StatusSeeOther, next)
}
