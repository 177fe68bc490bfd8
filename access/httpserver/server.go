package httpserver

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one readiness probe, such as "database" or "redis". Probe is called
// with a context that expires after 2 s and must return promptly; a probe still
// running at the deadline is reported as failed.
type Check struct {
	Name  string
	Probe func(ctx context.Context) error
}

// Options configures New. Every field is optional.
type Options struct {
	// Logger receives access lines and server-side errors. Nil discards them.
	Logger *slog.Logger
	// Registry receives the HTTP metrics (plus Go and process collectors when
	// absent) and is served at /metrics. Nil means a fresh registry.
	Registry *prometheus.Registry
	// Checks are run in parallel by /readyz.
	Checks []Check
	// Ready gates /readyz before any check runs: while it returns false the
	// node is not ready (e.g. it is still catching up on revocations). Nil
	// means always ready.
	Ready func() bool
	// Errors maps domain sentinels to statuses; the first entry whose Err
	// matches (errors.Is) wins.
	Errors []ErrorMapping
	// Version is reported by /healthz.
	Version string
	// MetricsElsewhere leaves /metrics off this server: another listener serves
	// it (Metrics), typically on an address only the monitoring network reaches.
	MetricsElsewhere bool
	// TrustedProxies are the reverse proxies whose Forwarded and
	// X-Forwarded-For headers are believed (see ClientInfo). Empty: none, the
	// client is always the TCP peer.
	TrustedProxies []netip.Prefix
}

// Routes served by every Weft node.
const (
	healthPath  = "/healthz"
	readyPath   = "/readyz"
	metricsPath = "/metrics"
)

// New returns an *echo.Echo with the shared middleware, error handler and the
// /healthz, /readyz and /metrics routes. Callers add their own routes to it.
//
// It panics if the HTTP metrics cannot be registered on o.Registry for a
// reason other than an identical collector already being there, as
// prometheus.MustRegister does: that is a wiring bug found at start-up.
func New(o Options) *echo.Echo {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	// The client IP feeds risk scoring, rate limits and audit, and forwarding
	// headers are trivially spoofed: they are read only from TrustedProxies.
	// c.RealIP() and ClientInfo both go through this.
	e.IPExtractor = ipExtractor(o.TrustedProxies)
	// http.Server errors (TLS handshakes, accept failures) go to our logger;
	// Serve uses e.StdLogger as ErrorLog.
	e.StdLogger = slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn)

	m := registerMetrics(o.Registry, o.Logger)
	e.HTTPErrorHandler = errorHandler(o.Logger, o.Errors)

	// Order matters: the request id is needed by everything after it, and the
	// observer must sit outside recover so that it sees the 500 of a panic.
	e.Use(
		requestIDMiddleware,
		securityHeaders,
		observe(o.Logger, m),
		recoverer(o.Logger),
	)

	h := &health{logger: o.Logger, version: o.Version, checks: o.Checks, ready: o.Ready}
	e.GET(healthPath, h.healthz)
	e.GET(readyPath, h.readyz)
	if !o.MetricsElsewhere {
		e.GET(metricsPath, metricsHandler(o.Registry, o.Logger))
	}
	return e
}

// Metrics returns a server that serves only /metrics from reg, for a listener of its
// own (see Options.MetricsElsewhere).
func Metrics(reg *prometheus.Registry, logger *slog.Logger) *echo.Echo {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.StdLogger = slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	e.Use(securityHeaders)
	e.GET(metricsPath, metricsHandler(reg, logger))
	return e
}

func metricsHandler(reg *prometheus.Registry, logger *slog.Logger) echo.HandlerFunc {
	return echo.WrapHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelError),
		// A failing collector should not hide every other metric.
		ErrorHandling: promhttp.ContinueOnError,
	}))
}

// securityHeaders sets the headers every response carries. Probe and metrics
// responses describe the live state of this node, so no cache may keep them.
func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		switch c.Path() {
		case healthPath, readyPath, metricsPath:
			h.Set(echo.HeaderCacheControl, "no-store")
		}
		return next(c)
	}
}

// recoverer turns a handler panic into a 500 so one bad request cannot take
// the process down. It logs the panic with its stack (never the request body)
// and returns errRecovered, which the error handler renders without logging
// again. (echo's middleware.Recover would pull in golang.org/x/time for its
// rate limiter; this is all we need of it.)
func recoverer(logger *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) (err error) {
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler {
					panic(v) // net/http's sentinel for aborting a response on purpose
				}
				r := c.Request()
				logger.LogAttrs(r.Context(), slog.LevelError, "panic recovered",
					slog.String(requestIDKey, RequestID(r.Context())),
					slog.String("method", r.Method),
					slog.String("route", routeOf(c)),
					slog.String("panic", fmt.Sprint(v)),
					slog.String("stack", string(debug.Stack())),
				)
				err = errRecovered
			}()
			return next(c)
		}
	}
}
