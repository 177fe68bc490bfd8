package oauth

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/ory/fosite"
)

// RFC 9207: every authorization response names its issuer in an "iss" parameter, so a
// client that talks to several authorization servers can tell which one answered and
// a mix-up attack (an attacker's server relaying another's code) fails. fosite v0.49
// does not add it; the success path adds it as a response parameter (all response
// modes), the error paths below.

// writeAuthorizeError is fosite's WriteAuthorizeError with the issuer in the response.
func (h *Handler) writeAuthorizeError(ctx context.Context, w http.ResponseWriter, ar fosite.AuthorizeRequester, err error) {
	iss := h.Provider.Issuer()
	if ar != nil && ar.IsRedirectURIValid() && ar.GetResponseMode() == fosite.ResponseModeFormPost {
		// fosite renders the form itself; build the same form with iss in it.
		v := fosite.ErrorToRFC6749Error(err).ToValues()
		v.Set("state", ar.GetState())
		v.Set("iss", iss)
		redirect := *ar.GetRedirectURI()
		redirect.Fragment = ""
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
		w.Header().Set("Content-Type", "text/html;charset=UTF-8")
		fosite.WriteAuthorizeFormPostResponse(redirect.String(), v, fosite.DefaultFormPostTemplate, w)
		return
	}
	h.Provider.WriteAuthorizeError(ctx, &issuerParam{ResponseWriter: w, iss: iss}, ar, err)
}

// issuerParam adds iss to the redirect fosite writes, in the query or, for the
// fragment response mode, in the fragment. Answers that are not redirects (an error
// shown in place because the redirect URI is not trusted) pass unchanged.
type issuerParam struct {
	http.ResponseWriter
	iss string
}

func (w *issuerParam) WriteHeader(code int) {
	if code/100 == 3 {
		if loc := w.Header().Get("Location"); loc != "" {
			w.Header().Set("Location", withIssuer(loc, w.iss))
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func withIssuer(loc, iss string) string {
	if base, frag, ok := strings.Cut(loc, "#"); ok {
		v, err := url.ParseQuery(frag)
		if err != nil {
			return loc
		}
		v.Set("iss", iss)
		return base + "#" + v.Encode()
	}
	u, err := url.Parse(loc)
	if err != nil {
		return loc
	}
	q := u.Query()
	q.Set("iss", iss)
	u.RawQuery = q.Encode()
	return u.String()
}
