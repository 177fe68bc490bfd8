package websession

import (
	"context"
	"net/http"

	"github.com/weft-fabric/weft/identity"
)

// Browser resumes the browser's login session at Weft from its cookie: the one place the
// OAuth endpoints and the pages (login, consent, logout) ask "who is this browser?".
type Browser struct {
	cookies   Cookies
	sessions  *identity.Sessions
	directory *identity.Directory
}

// NewBrowser builds it; every argument is required.
func NewBrowser(cookies Cookies, sessions *identity.Sessions, directory *identity.Directory) *Browser {
	if sessions == nil || directory == nil {
		panic("websession.NewBrowser: sessions and directory are required")
	}
	return &Browser{cookies: cookies, sessions: sessions, directory: directory}
}

// Live resumes the browser's login session if its cookie is valid, the session has not
// ended and its user is still active: a suspended user's browser is signed out at once,
// whatever its cookie says.
func (b *Browser) Live(ctx context.Context, r *http.Request) (identity.LoginSession, identity.User, bool) {
	cookie := b.cookies.Session(r)
	if cookie == "" {
		return identity.LoginSession{}, identity.User{}, false
	}
	ls, err := b.sessions.Resume(ctx, cookie)
	if err != nil {
		return identity.LoginSession{}, identity.User{}, false
	}
	u, err := b.directory.UserByID(ctx, ls.UserID)
	if err != nil || u.Status != identity.StatusActive {
		return identity.LoginSession{}, identity.User{}, false
	}
	return ls, u, true
}
