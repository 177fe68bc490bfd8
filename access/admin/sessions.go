package admin

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/weft-fabric/weft/access/revocation"
	"github.com/weft-fabric/weft/identity"
)

// sessionView is a login session as the API shows it: never its cookie secret or its
// digest.
type sessionView struct {
	ID         string     `json:"id"`
	UserID     string     `json:"user_id"`
	Active     bool       `json:"active"`
	Clients    []string   `json:"clients"`
	DeviceID   string     `json:"device_id"`
	IP         string     `json:"ip"`
	UserAgent  string     `json:"user_agent"`
	AMR        []string   `json:"amr"`
	ACR        string     `json:"acr"`
	AuthTime   time.Time  `json:"auth_time"`
	CreatedAt  time.Time  `json:"created_at"`
	LastSeenAt time.Time  `json:"last_seen_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

// sessionDetail is one session with what it issued.
type sessionDetail struct {
	sessionView
	Tokens []tokenView `json:"tokens"`
}

// tokenView describes a code or token; it has no value, signature or request id.
type tokenView struct {
	Kind      string     `json:"kind"`
	ClientID  string     `json:"client_id"`
	Scopes    []string   `json:"scopes"`
	IssuedAt  time.Time  `json:"issued_at"`
	ExpiresAt *time.Time `json:"expires_at"`
	Active    bool       `json:"active"`
}

// revocationView is the record a DELETE /sessions/{id} made, in the shape of the
// revocation API's answer.
type revocationView struct {
	ID        string              `json:"id"`
	Selector  revocation.Selector `json:"selector"`
	Reason    string              `json:"reason"`
	Actor     string              `json:"actor"`
	Matched   matchedView         `json:"matched"`
	CreatedAt time.Time           `json:"created_at"`
}

type matchedView struct {
	Sessions int64 `json:"sessions"`
	Tokens   int64 `json:"tokens"`
}

func viewRevocation(r revocation.Record) revocationView {
	return revocationView{ID: r.ID, Selector: r.Selector, Reason: r.Reason, Actor: r.Actor,
		Matched: matchedView{Sessions: r.Sessions, Tokens: r.Tokens}, CreatedAt: r.CreatedAt.UTC()}
}

func viewSession(now time.Time) func(identity.LoginSession) sessionView {
	return func(s identity.LoginSession) sessionView {
		v := sessionView{ID: s.ID, UserID: s.UserID, Active: s.Active(now), Clients: s.Clients, DeviceID: s.DeviceID,
			IP: s.IP, UserAgent: s.UserAgent, AMR: s.AMR, ACR: s.ACR, AuthTime: s.AuthTime.UTC(), CreatedAt: s.CreatedAt.UTC(),
			LastSeenAt: s.LastSeenAt.UTC(), ExpiresAt: s.ExpiresAt.UTC(), RevokedAt: s.RevokedAt}
		if v.Clients == nil {
			v.Clients = []string{}
		}
		if v.AMR == nil {
			v.AMR = []string{}
		}
		return v
	}
}

// maxFilterLen bounds the free-text filters; longer values could never match.
const maxFilterLen = 255

// listSessions: GET /sessions?user=&client=&device=&ip=&active=&limit=&after=. Every
// filter is checked before anything is read; a user or client that does not exist
// simply matches no session.
func (h *Handler) listSessions(c echo.Context) error {
	ctx := c.Request().Context()
	page, err := pageFrom(c)
	if err != nil {
		return err
	}
	f := identity.SessionFilter{ClientID: c.QueryParam("client"), DeviceID: c.QueryParam("device")}
	switch a := c.QueryParam("active"); a {
	case "", "true":
		f.State = identity.SessionsActive
	case "false":
		f.State = identity.SessionsEnded
	case "all":
		f.State = identity.SessionsAll
	default:
		return invalid("active", "must be true (the default), false or all")
	}
	if ip := c.QueryParam("ip"); ip != "" {
		addr, err := netip.ParseAddr(ip)
		if err != nil {
			return invalid("ip", "must be an IPv4 or IPv6 address")
		}
		f.IP = addr.String()
	}
	if len(f.ClientID) > maxFilterLen {
		return invalid("client", "must be a client id")
	}
	if len(f.DeviceID) > maxFilterLen || strings.ContainsFunc(f.DeviceID, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		return invalid("device", "must be a device id")
	}
	view := viewSession(h.Sessions.Now())
	if u := c.QueryParam("user"); u != "" {
		id, found, err := h.userRef(ctx, u)
		if err != nil {
			return err
		}
		if !found {
			return c.JSON(http.StatusOK, listOf([]identity.LoginSession(nil), view, ""))
		}
		f.UserID = id
	}
	sessions, next, err := h.Sessions.List(ctx, f, page)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, listOf(sessions, view, next))
}

// userRef resolves a user filter given as an id or a username.
func (h *Handler) userRef(ctx context.Context, ref string) (string, bool, error) {
	u, err := h.Directory.UserByID(ctx, ref)
	if err == nil {
		return u.ID, true, nil
	}
	if !errors.Is(err, identity.ErrNotFound) {
		return "", false, err
	}
	u, err = h.Directory.UserByUsername(ctx, ref)
	if notFoundOrInvalid(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return u.ID, true, nil
}

// getSession: GET /sessions/{id}, with its codes and tokens.
func (h *Handler) getSession(c echo.Context) error {
	ctx := c.Request().Context()
	s, err := h.Sessions.Get(ctx, c.Param("id"))
	if err != nil {
		return missing(err, "session")
	}
	tokens, err := h.SessionTokens.TokensOfSession(ctx, s.ID)
	if err != nil {
		return err
	}
	out := sessionDetail{sessionView: viewSession(h.Sessions.Now())(s), Tokens: make([]tokenView, 0, len(tokens))}
	for _, t := range tokens {
		out.Tokens = append(out.Tokens, tokenView{Kind: t.Kind, ClientID: t.ClientID, Scopes: t.Scopes,
			IssuedAt: t.IssuedAt.UTC(), ExpiresAt: t.ExpiresAt, Active: t.Active})
	}
	return c.JSON(http.StatusOK, out)
}

type revokeSessionRequest struct {
	Reason string `json:"reason"`
}

// deleteSession: DELETE /sessions/{id}?reason=, or a JSON body {"reason": "..."}. It
// revokes through revocation.Service (session selector) with the calling client as the
// actor: the session ends, its codes and tokens stop working on every node, and its
// relying parties get back-channel logout.
func (h *Handler) deleteSession(c echo.Context) error {
	ctx := c.Request().Context()
	reason := c.QueryParam("reason")
	if c.Request().ContentLength != 0 || c.Request().Header.Get(echo.HeaderContentType) != "" {
		var in revokeSessionRequest
		if err := decode(c, &in); err != nil {
			return err
		}
		if reason != "" && in.Reason != "" && in.Reason != reason {
			return invalid("reason", "give it once, in the query or in the body")
		}
		if in.Reason != "" {
			reason = in.Reason
		}
	}
	if strings.TrimSpace(reason) == "" {
		return invalid("reason", "is required: say why, for the audit log")
	}
	id := c.Param("id")
	if _, err := h.Sessions.ByID(ctx, id); err != nil {
		return missing(err, "session")
	}
	rec, _, err := h.Revocations.Revoke(ctx, caller(c).clientID, "", revocation.Selector{Type: revocation.SelectSession, Value: id}, reason)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewRevocation(rec))
}
