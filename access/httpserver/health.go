package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// readyTimeout bounds the whole /readyz run: orchestrators probe often and
// give up quickly, so a hung dependency must read as "not ready", not hang.
const readyTimeout = 2 * time.Second

type health struct {
	logger  *slog.Logger
	version string
	checks  []Check
	ready   func() bool
}

type healthBody struct {
	Status  string `json:"status"`
	Version string `json:"version"`
}

type readyBody struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// healthz reports liveness only: it touches no dependency, so a database
// outage never makes an orchestrator restart healthy processes.
func (h *health) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, healthBody{Status: "ok", Version: h.version})
}

// readyz reports whether this node should receive traffic. The body names
// each failing check but never its error text, which may hold hostnames or
// credentials; the error goes to the log instead.
func (h *health) readyz(c echo.Context) error {
	if h.ready != nil && !h.ready() {
		return c.JSON(http.StatusServiceUnavailable, readyBody{
			Status: "not ready",
			Checks: map[string]string{"startup": "pending"},
		})
	}

	ctx, cancel := context.WithTimeout(c.Request().Context(), readyTimeout)
	defer cancel()

	results := make([]string, len(h.checks))
	var wg sync.WaitGroup
	for i, chk := range h.checks {
		wg.Go(func() {
			err := runProbe(ctx, chk.Probe)
			if err == nil {
				results[i] = "ok"
				return
			}
			results[i] = "unreachable"
			if errors.Is(err, context.DeadlineExceeded) {
				results[i] = "timeout"
			}
			h.logger.LogAttrs(ctx, slog.LevelWarn, "readiness check failed",
				slog.String(requestIDKey, RequestID(ctx)),
				slog.String("check", chk.Name),
				slog.Any("error", err),
			)
		})
	}
	wg.Wait()

	body := readyBody{Status: "ready", Checks: make(map[string]string, len(h.checks))}
	status := http.StatusOK
	for i, chk := range h.checks {
		if prev, dup := body.Checks[chk.Name]; !dup || prev == "ok" { // a failure wins over a same-named success
			body.Checks[chk.Name] = results[i]
		}
		if results[i] != "ok" {
			body.Status, status = "not ready", http.StatusServiceUnavailable
		}
	}
	return c.JSON(status, body)
}

// runProbe returns the probe's error, or ctx's error if the probe ignores its
// context and overruns, or an error if it panics: a broken probe must not
// hang /readyz or crash the process.
func runProbe(ctx context.Context, probe func(context.Context) error) error {
	if probe == nil {
		return errors.New("no probe")
	}
	done := make(chan error, 1) // buffered: an overrunning probe can still finish and exit
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("probe panicked: %v", r)
			}
		}()
		done <- probe(ctx)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
