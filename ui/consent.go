package ui

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/weft-fabric/weft/access"
)

type consentView struct {
	Title      string
	ClientName string
	Scopes     []string
	Username   string
	CSRF       string
	Next       string
}

// scopeText says in plain words what each scope releases.
var scopeText = map[string]string{
	"openid":         "Sign you in with your Weft account",
	"profile":        "See your name and username",
	"email":          "See your email address",
	"groups":         "See the groups you belong to",
	"offline_access": "Stay signed in when you are away (refresh tokens)",
}

func describe(scopes []string) []string {
	out := make([]string, 0, len(scopes))
	for _, s := range scopes {
		if t, ok := scopeText[s]; ok {
			out = append(out, t)
		} else {
			out = append(out, "Use the permission “"+s+"”")
		}
	}
	return out
}

// consentRequest reads the client and scopes out of the authorization request that the
// consent page continues.
func consentRequest(next string) (clientID string, scopes []string, ok bool) {
	if !access.IsContinueURL(next) {
		return "", nil, false
	}
	u, err := url.Parse(next)
	if err != nil {
		return "", nil, false
	}
	q := u.Query()
	return q.Get("client_id"), strings.Fields(q.Get("scope")), q.Get("client_id") != ""
}

func (p *Pages) consentPage(c echo.Context) error {
	next := c.QueryParam("next")
	clientID, scopes, ok := consentRequest(next)
	if !ok {
		return renderError(c, http.StatusBadRequest, "This consent link is not valid. Start again from the application.")
	}
	ctx := c.Request().Context()
	_, user, live := p.Browser.Live(ctx, c.Request())
	if !live {
		return c.Redirect(http.StatusFound, access.PathLogin+"?next="+url.QueryEscape(next))
	}
	cl, err := p.Clients.Client(ctx, clientID)
	if err != nil {
		return renderError(c, http.StatusBadRequest, "The application is not known.")
	}
	return render(c, http.StatusOK, "consent.html", consentView{Title: "Allow access?", ClientName: cl.Name,
		Scopes: describe(scopes), Username: user.Username, CSRF: p.Cookies.CSRF(c.Response(), c.Request()), Next: next})
}

func (p *Pages) consent(c echo.Context) error {
	r := c.Request()
	ctx := r.Context()
	if !p.Cookies.CheckCSRF(r) {
		return renderError(c, http.StatusForbidden, "Your session expired or the form was not sent by this site. Go back and try again.")
	}
	next := r.PostFormValue("next")
	clientID, scopes, ok := consentRequest(next)
	if !ok {
		return renderError(c, http.StatusBadRequest, "This consent link is not valid. Start again from the application.")
	}
	_, user, live := p.Browser.Live(ctx, r)
	if !live {
		return c.Redirect(http.StatusSeeOther, access.PathLogin+"?next="+url.QueryEscape(next))
	}
	if r.PostFormValue("decision") != "allow" {
		return c.Redirect(http.StatusSeeOther, next+"&"+access.DenyParam+"=1")
	}
	if _, err := p.Clients.Client(ctx, clientID); err != nil {
		return renderError(c, http.StatusBadRequest, "The application is not known.")
	}
	// The authorization endpoint checks the scopes against the client again; consent to
	// a scope the client may not have grants nothing.
	err := p.Consents.SaveConsent(ctx, access.Consent{UserID: user.ID, ClientID: clientID, Scopes: scopes, GrantedAt: time.Now().UTC()})
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, next)
}
