package httpserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// Server limits. ReadHeaderTimeout stops slowloris clients; the others bound
// how long one connection can hold a goroutine and memory.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 64 << 10
)

// Serve listens on addr (TCP) and serves e until ctx is cancelled, then shuts
// down gracefully: the listener closes at once, so new connections are
// refused, and in-flight requests get up to timeout to finish, after which
// remaining connections are closed and an error is returned. ready, if not
// nil, is called with the bound address once the listener is up (useful with
// port 0). Serve returns nil after a clean shutdown.
//
// Requests do not inherit ctx: cancelling it starts the shutdown but does not
// abort the work of requests already admitted.
func Serve(ctx context.Context, e *echo.Echo, addr string, timeout time.Duration, ready func(net.Addr)) error {
	// Listen before anything else so a bad or busy address fails right here.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("httpserver: listen on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           e,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          e.StdLogger,
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if ready != nil {
		ready(ln.Addr())
	}

	select {
	case err := <-served: // Serve only returns early on a listener failure
		return fmt.Errorf("httpserver: serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}

	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close() // out of time: drop what is left rather than hang the process
		<-served
		return fmt.Errorf("httpserver: shutdown on %s: %w", ln.Addr(), err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("httpserver: serve on %s: %w", ln.Addr(), err)
	}
	return nil
}
