package httpserver

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// Labels are the route pattern (never the raw path), method and status, which
// keeps series bounded however many distinct URLs clients send.
var httpLabels = []string{"route", "method", "status"}

// registerMetrics registers the HTTP metrics on reg and, unless reg already
// has them, the Go runtime and process collectors. Calling it twice with one
// registry (several servers, tests) reuses the collectors already there.
func registerMetrics(reg *prometheus.Registry, logger *slog.Logger) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_http_requests_total",
			Help: "HTTP requests served, by route pattern, method and status.",
		}, httpLabels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "weft_http_request_duration_seconds",
			Help: "HTTP request latency, by route pattern, method and status.",
			// The hot path targets a few milliseconds, so resolution sits there.
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, httpLabels),
	}
	m.requests = mustRegister(reg, m.requests)
	m.duration = mustRegister(reg, m.duration)

	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		var are prometheus.AlreadyRegisteredError
		if err := reg.Register(c); err != nil && !errors.As(err, &are) {
			// Optional telemetry: a conflict here must not stop the server.
			logger.Warn("register runtime metrics", slog.Any("error", err))
		}
	}
	return m
}

// mustRegister registers c, or returns the equal collector already on reg.
func mustRegister[C prometheus.Collector](reg *prometheus.Registry, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(fmt.Sprintf("httpserver: register HTTP metrics: %v", err))
}
