package httpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/weft-fabric/weft/identity"
)

// mimeProblemJSON is the RFC 9457 media type.
const mimeProblemJSON = "application/problem+json"

// Problem is an RFC 9457 problem details body. Handlers may return a *Problem
// as an error; it is rendered as given, with RequestID filled in.
type Problem struct {
	Type     string `json:"type,omitempty"`
	Title    string `json:"title,omitempty"`
	Status   int    `json:"status,omitempty"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	// RequestID is an extension member set by the error handler, so a client
	// can quote it and an operator can find the matching log lines.
	RequestID string `json:"request_id,omitempty"`
	// Code is the OAuth error code of a bearer-token refusal (RFC 6750 section 3.1),
	// the same as in its WWW-Authenticate challenge, for clients that read the body.
	Code string `json:"error,omitempty"`
}

// Error returns the status, title and detail.
func (p *Problem) Error() string {
	s := fmt.Sprintf("%d %s", p.Status, p.Title)
	if p.Detail != "" {
		s += ": " + p.Detail
	}
	return s
}

// ErrorMapping maps a domain sentinel to a status: for example
// {identity.ErrNotFound, 404, "Not Found"}. Title defaults to the status
// text. For 4xx the error's text becomes the problem detail, so errors mapped
// to 4xx must not wrap secrets.
type ErrorMapping struct {
	Err    error
	Status int
	Title  string
}

// IdentityErrors maps the sentinels every Weft store and service returns (identity's
// shared kernel) to statuses: the table the server passes as Options.Errors, and that
// handler tests use to answer as the server does.
var IdentityErrors = []ErrorMapping{
	{Err: identity.ErrInvalid, Status: 400, Title: "Invalid request"},
	{Err: identity.ErrNotFound, Status: 404, Title: "Not found"},
	{Err: identity.ErrConflict, Status: 409, Title: "Conflict"},
	{Err: identity.ErrInvalidCredentials, Status: 401, Title: "Unauthorized"},
}

// errRecovered marks a panic that recoverer already logged.
var errRecovered = errors.New("panic recovered")

// errorHandler renders every error as application/problem+json. Client errors
// (4xx) may explain themselves; server errors get a generic body and their
// cause is logged at Error, tagged with the request id the body also carries.
func errorHandler(logger *slog.Logger, mappings []ErrorMapping) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		r := c.Request()
		ctx := r.Context()
		if c.Response().Committed {
			// Too late to change the answer; keep the cause rather than lose it.
			if !errors.Is(err, errRecovered) {
				logger.LogAttrs(ctx, slog.LevelWarn, "error after response was committed",
					slog.String(requestIDKey, RequestID(ctx)), slog.Any("error", err))
			}
			return
		}

		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			// The client went away (closed the connection, gave up waiting): not a
			// server failure. 499 as nginx logs it; nobody reads the answer.
			logger.LogAttrs(ctx, slog.LevelInfo, "request cancelled by the client",
				slog.String(requestIDKey, RequestID(ctx)),
				slog.String("method", r.Method),
				slog.String("route", routeOf(c)))
			c.Response().WriteHeader(StatusClientClosedRequest)
			return
		}
		p, logCause := problemFor(err, mappings)
		if p.Status < 400 || p.Status > 599 {
			p = problemBody{Problem: generic()}
			logCause = true
		}
		p.RequestID = RequestID(ctx)
		if logCause {
			logger.LogAttrs(ctx, slog.LevelError, "request failed",
				slog.String(requestIDKey, p.RequestID),
				slog.String("method", r.Method),
				slog.String("route", routeOf(c)),
				slog.Int("status", p.Status),
				slog.Any("error", err),
			)
		}

		c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
		var werr error
		if r.Method == http.MethodHead {
			werr = c.NoContent(p.Status)
		} else {
			body, _ := json.Marshal(p) // only strings and an int: cannot fail
			werr = c.Blob(p.Status, mimeProblemJSON, body)
		}
		if werr != nil {
			logger.LogAttrs(ctx, slog.LevelWarn, "write error response",
				slog.String(requestIDKey, p.RequestID), slog.Any("error", werr))
		}
	}
}

// StatusClientClosedRequest is nginx's 499: the client closed the connection before the
// answer; what the access log and metrics record for a cancelled request.
const StatusClientClosedRequest = 499

// problemBody is the rendered problem: Field is the extension member naming
// the request field to blame, as the admin API's problems do.
type problemBody struct {
	Problem
	Field string `json:"field,omitempty"`
}

// problemFor builds the problem for err and says whether the cause should be
// logged. A *FieldError (a JSON body DecodeJSON blamed on one field) is a 400
// naming the field; everything else is up to problemOf.
func problemFor(err error, mappings []ErrorMapping) (problemBody, bool) {
	var fe *FieldError
	if !errors.Is(err, errRecovered) && errors.As(err, &fe) {
		return problemBody{Problem: *badRequest(fe.Error()), Field: fe.Field}, false
	}
	p, logCause := problemOf(err, mappings)
	return problemBody{Problem: p}, logCause
}

// problemOf builds the problem for err (a copy: a *Problem may be a shared
// value) and says whether the cause should be logged.
func problemOf(err error, mappings []ErrorMapping) (p Problem, logCause bool) {
	if errors.Is(err, errRecovered) {
		return generic(), false
	}

	var pp *Problem
	if errors.As(err, &pp) {
		return *pp, pp.Status >= 500
	}

	var he *echo.HTTPError
	if errors.As(err, &he) {
		// echo wraps one HTTPError in another in places (e.g. the binder); the
		// inner one holds the real status, as in echo's own handler.
		if inner, ok := he.Internal.(*echo.HTTPError); ok {
			he = inner
		}
		p = Problem{Status: he.Code, Title: http.StatusText(he.Code)}
		if msg, ok := he.Message.(string); ok && he.Code < 500 && msg != p.Title {
			p.Detail = msg
		}
		return p, he.Code >= 500
	}

	for _, m := range mappings {
		if m.Err != nil && errors.Is(err, m.Err) {
			p = Problem{Status: m.Status, Title: m.Title}
			if p.Title == "" {
				p.Title = http.StatusText(m.Status)
			}
			if m.Status < 500 {
				p.Detail = err.Error()
			}
			return p, m.Status >= 500
		}
	}

	return generic(), true
}

// generic is the body for anything unexpected: it says nothing about the
// cause, which may name hosts, queries or secrets.
func generic() Problem {
	return Problem{Status: http.StatusInternalServerError, Title: http.StatusText(http.StatusInternalServerError)}
}
