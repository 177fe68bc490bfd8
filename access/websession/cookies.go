package websession

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"time"

	"github.com/weft-fabric/weft/identity"
)

// Cookies decides every cookie attribute in one place. Secure (and the __Host- prefix,
// which pins the cookie to this host and path /) are on whenever the issuer is https.
type Cookies struct {
	Secure bool
}

func (c Cookies) name(base string) string {
	if c.Secure {
		return "__Host-" + base
	}
	return base
}

// SessionCookieName is the login-session cookie's name.
func (c Cookies) SessionCookieName() string { return c.name("weft_session") }

// SetSession stores the login-session proof. SameSite=Lax lets the cookie ride the
// top-level redirect back from a relying party to /oauth2/auth.
func (c Cookies) SetSession(w http.ResponseWriter, value string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{Name: c.SessionCookieName(), Value: value, Path: "/", Expires: expires,
		HttpOnly: true, Secure: c.Secure, SameSite: http.SameSiteLaxMode})
}

// ClearSession removes it.
func (c Cookies) ClearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: c.SessionCookieName(), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: c.Secure, SameSite: http.SameSiteLaxMode})
}

// Session returns the login-session cookie value, or "".
func (c Cookies) Session(r *http.Request) string {
	if ck, err := r.Cookie(c.SessionCookieName()); err == nil {
		return ck.Value
	}
	return ""
}

// deviceTTL is how long the device cookie lasts (the most browsers allow).
const deviceTTL = 400 * 24 * time.Hour

// Device returns the browser's stable device identifier, setting the cookie on first
// sight. It identifies a browser profile, not a person, so that sessions from one
// device can be found and revoked together; it grants nothing on its own.
func (c Cookies) Device(w http.ResponseWriter, r *http.Request) string {
	if ck, err := r.Cookie(c.DeviceCookieName()); err == nil && identity.ValidDeviceID(ck.Value) {
		return ck.Value
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	id := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: c.DeviceCookieName(), Value: id, Path: "/", MaxAge: int(deviceTTL.Seconds()),
		HttpOnly: true, Secure: c.Secure, SameSite: http.SameSiteLaxMode})
	return id
}

// DeviceCookieName is the device cookie's name, which httpserver.ClientInfo reads.
func (c Cookies) DeviceCookieName() string { return c.name("weft_device") }

// CSRF implements the double-submit pattern: a random token in a SameSite=Strict,
// HttpOnly cookie that each form must echo in a hidden field. A cross-site page can
// neither read the cookie nor make the browser send it.
func (c Cookies) CSRF(w http.ResponseWriter, r *http.Request) string {
	if ck, err := r.Cookie(c.name("weft_csrf")); err == nil && len(ck.Value) >= 32 {
		return ck.Value
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	tok := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: c.name("weft_csrf"), Value: tok, Path: "/", HttpOnly: true,
		Secure: c.Secure, SameSite: http.SameSiteStrictMode})
	return tok
}

// CheckCSRF reports whether the form's token matches the cookie.
func (c Cookies) CheckCSRF(r *http.Request) bool {
	ck, err := r.Cookie(c.name("weft_csrf"))
	if err != nil || len(ck.Value) < 32 {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(ck.Value), []byte(r.PostFormValue("csrf_token"))) == 1
}
