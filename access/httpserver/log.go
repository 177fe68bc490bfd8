package httpserver

import (
	"context"
	"log/slog"
	"reflect"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

// unmatchedRoute labels requests that matched no route, so that scanners
// probing random paths cannot blow up log and metric cardinality.
const unmatchedRoute = "unmatched"

// notFoundPC identifies echo's fallback handler, which the router installs
// when no route matches; echo exposes no other signal for that case.
var notFoundPC = reflect.ValueOf(echo.NotFoundHandler).Pointer()

// routeOf returns the route pattern the request matched, or unmatchedRoute.
func routeOf(c echo.Context) string {
	p := c.Path()
	if p == "" || reflect.ValueOf(c.Handler()).Pointer() == notFoundPC {
		return unmatchedRoute
	}
	return p
}

// observe writes one access line and records the metrics for each request.
// It renders a returned error itself (then returns nil so echo does not render
// it twice) because the final status is only known once the error is written.
func observe(logger *slog.Logger, m *metrics) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			if err := next(c); err != nil {
				c.Error(err)
			}
			elapsed := time.Since(start)

			r, w := c.Request(), c.Response()
			route := routeOf(c)
			status := strconv.Itoa(w.Status)
			m.requests.WithLabelValues(route, r.Method, status).Inc()
			m.duration.WithLabelValues(route, r.Method, status).Observe(elapsed.Seconds())

			level := slog.LevelInfo
			if w.Status >= 500 {
				level = slog.LevelError
			}
			// Only the path: query strings, headers, cookies and bodies may
			// carry tokens or credentials.
			logger.LogAttrs(r.Context(), level, "http request",
				slog.String(requestIDKey, RequestID(r.Context())),
				slog.String("method", r.Method),
				slog.String("route", route),
				slog.String("path", r.URL.Path),
				slog.Int("status", w.Status),
				slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
				slog.Int64("bytes_out", w.Size),
				slog.String("remote_ip", c.RealIP()),
			)
			return nil
		}
	}
}

// LogHandler wraps h so that every record logged with a context (for example
// logger.InfoContext(ctx, ...)) carries the request_id stored there by the
// middleware, the way dex's requestContextHandler does. cmd wraps its handler
// once; code below the edge then needs no logger plumbing per request.
//
// Records that already carry a top-level request_id attribute are left alone,
// so the access line is not duplicated. Under WithGroup the attribute lands in
// the innermost group, as slog's model requires.
func LogHandler(h slog.Handler) slog.Handler {
	return &logHandler{next: h}
}

type logHandler struct{ next slog.Handler }

func (h *logHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" && !hasAttr(r, requestIDKey) {
		r = r.Clone() // the record's attrs may be shared with other handlers
		r.AddAttrs(slog.String(requestIDKey, id))
	}
	return h.next.Handle(ctx, r)
}

func (h *logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &logHandler{next: h.next.WithAttrs(as)}
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	return &logHandler{next: h.next.WithGroup(name)}
}

func hasAttr(r slog.Record, key string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
}
