package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/weft-fabric/weft/access/httpserver"
	"github.com/weft-fabric/weft/access/outbox"
	"github.com/weft-fabric/weft/access/revocation"
	"github.com/weft-fabric/weft/access/throttle"
	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/password"
)

func newServeCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the Weft server",
		Long: `Run the Weft server. With nothing configured it uses an embedded SQLite file in the
data directory (./weft-data) and keeps shared state in process. It migrates the
database on start (unless migrate_on_start is off), creates the first administrator
when the directory is empty, and stops gracefully on SIGTERM or SIGINT.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.config()
			if err != nil {
				return err
			}
			return serve(cmd.Context(), cfg, newLogger(cfg, c.stderr), nil)
		},
	}
}

// auditCheckpointInterval bounds how long entries can follow the newest audit
// checkpoint kept outside the database (Record also writes one every
// identity.DefaultCheckpointEvery entries).
const auditCheckpointInterval = time.Minute

// serve runs until ctx ends. ready, if set, receives the bound address (tests use port 0).
func serve(ctx context.Context, cfg Config, log *slog.Logger, ready func(net.Addr)) error {
	log.Info("starting weft", "version", buildVersion(), "config", cfg.Redacted())
	a, err := newApp(ctx, cfg, log, roleServer)
	if err != nil {
		return err
	}
	defer a.Close()
	if cfg.DatabaseURL == "" {
		log.Info("using embedded SQLite; set WEFT_DATABASE_URL for PostgreSQL", "path", sqlitePath(cfg))
	}
	if err := bootstrapAdmin(ctx, a, cfg, log); err != nil {
		return err
	}
	// The policy in force before the first request: the newest stored version, else
	// the default set.
	if _, err := a.policies.Sync(ctx); err != nil {
		return fmt.Errorf("load the central policy: %w", err)
	}
	api, err := newHTTP(a)
	if err != nil {
		return err
	}
	// Start-up hashed (the timing-safe dummy hash, a generated administrator password):
	// argon2id's 64 MiB per run is garbage now. Give it back to the system rather than
	// keep it resident for as long as the server idles.
	debug.FreeOSMemory()

	checks := []httpserver.Check{{Name: "database", Probe: a.db.Ping}}
	if a.rdb != nil {
		checks = append(checks, httpserver.Check{Name: "redis", Probe: func(ctx context.Context) error {
			return a.rdb.Ping(ctx).Err()
		}})
	}
	// The background workers stop with ctx and are joined before the deferred closes,
	// so none of them is cut off from the database in the middle of a write.
	workers, wctx := errgroup.WithContext(ctx)
	defer func() { _ = workers.Wait() }()
	var busReady func() bool
	if a.bus != nil {
		// Not ready until subscribed and caught up on what was revoked meanwhile.
		workers.Go(func() error { a.bus.Run(wctx); return nil })
		busReady = a.bus.Ready
		workers.Go(func() error { a.fanout.Follow(wctx, time.Second, time.Minute); return nil })
	} else if a.fanout.Cache != nil {
		workers.Go(func() error { a.fanout.Follow(wctx, 100*time.Millisecond, time.Minute); return nil })
	}
	// New policy versions are announced on the bus; polling is the safety net, and on
	// the embedded default the way a version applied by the CLI (another process on the
	// same file) is in force within a second.
	policyPoll := 30 * time.Second
	if a.bus == nil {
		policyPoll = time.Second
	}
	workers.Go(func() error { a.policyReloads.run(wctx, policyPoll); return nil })

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewDBStatsCollector(a.db.SQL(), string(a.db.Dialect())))
	registerHashingMetrics(reg, a.hasher)
	registerFabricMetrics(reg, a.fanout)
	registerThrottleMetrics(reg, a, api.logins)
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "weft_introspection_lean_total",
		Help: "Introspections answered on the lean path (a caller with a cached secret verdict, an active access token)."},
		func() float64 { return float64(api.oauth.LeanIntrospections()) }))
	registerOutboxMetrics(reg, api.outbox)
	e := httpserver.New(httpserver.Options{
		Logger:   log,
		Registry: reg,
		Checks:   checks,
		Ready:    busReady,
		Version:  buildVersion(),
		// Forwarding headers name the client only when these proxies send them.
		TrustedProxies:   cfg.trustedProxies(),
		Errors:           httpserver.IdentityErrors,
		MetricsElsewhere: cfg.MetricsListen != "",
	})
	if cfg.MetricsListen != "" {
		workers.Go(func() error {
			err := httpserver.Serve(wctx, httpserver.Metrics(reg, log), cfg.MetricsListen, cfg.ShutdownTimeout, func(addr net.Addr) {
				log.Info("serving metrics", "addr", addr.String())
			})
			if err != nil {
				log.Error("the metrics listener stopped", "error", err.Error())
			}
			return nil
		})
	}
	api.oauth.Register(e)
	api.pages.Register(e)
	api.admin.Register(e)
	api.revocations.Register(e)
	api.ssf.Register(e)
	api.authzen.Register(e)
	api.gateway.Register(e)
	// Forward-auth's routes reload on change through the fan-out, and every 10 s
	// whatever happened (another process's change on SQLite, PostgreSQL without Redis).
	workers.Go(func() error { api.routeTable.Run(wctx, 10*time.Second); return nil })
	workers.Go(func() error { housekeeping(wctx, a, log); return nil })
	// Checkpoints of the audit chain at start, every minute it grew and at shutdown,
	// into the database, data_dir/audit-head and the log.
	workers.Go(func() error { a.audit.RunCheckpoints(wctx, auditCheckpointInterval); return nil })
	workers.Go(func() error { api.outbox.Run(wctx); return nil })
	err = httpserver.Serve(ctx, e, cfg.Listen, cfg.ShutdownTimeout, func(addr net.Addr) {
		log.Info("listening", "addr", addr.String(), "issuer", cfg.Issuer)
		if ready != nil {
			ready(addr)
		}
	})
	if err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// bootstrapAdmin creates the first administrator on an empty directory. A generated
// password is logged exactly once, at this moment, because there is no other way to
// hand it to the operator; it is never stored in clear and should be changed at once.
func bootstrapAdmin(ctx context.Context, a *app, cfg Config, log *slog.Logger) error {
	b, err := a.directory.EnsureBootstrapAdmin(ctx, cfg.BootstrapAdmin, cfg.BootstrapAdminPassword)
	if err != nil {
		var ve *identity.ValidationError
		if errors.As(err, &ve) {
			return fmt.Errorf("%w: bootstrap administrator (WEFT_BOOTSTRAP_ADMIN / WEFT_BOOTSTRAP_ADMIN_PASSWORD): %v", errConfig, ve)
		}
		return err
	}
	if !b.Created {
		return nil
	}
	if b.GeneratedPassword != "" {
		log.Warn("created the first administrator with a generated password; it is shown only this once: "+
			"change it with `weft user set-password`",
			"username", b.User.Username, "password", b.GeneratedPassword, "group", identity.AdminGroup)
		return nil
	}
	log.Info("created the first administrator", "username", b.User.Username, "group", identity.AdminGroup)
	return nil
}

// redisLogger routes go-redis's internal messages (dial failures) into our structured
// log at debug level instead of its default global logger on stderr; readiness reports
// the same failures where operators look for them.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

// housekeeping deletes expired codes, tokens and retired keys once a minute. Every node
// runs it; the deletes are idempotent.
func housekeeping(ctx context.Context, a *app, log *slog.Logger) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if n, err := a.tokens.DeleteExpired(ctx, now, 1000); err != nil {
				log.Warn("deleting expired tokens failed", "error", err)
			} else if n > 0 {
				log.Debug("deleted expired tokens", "count", n)
			}
			if _, err := a.keys.Prune(ctx, now); err != nil {
				log.Warn("pruning retired signing keys failed", "error", err)
			}
		}
	}
}

// registerFabricMetrics exposes whether this node may serve from memory and how often it
// does: a node that is often not fresh (its bus pings come back late) answers from the
// database, correct but slower.
func registerFabricMetrics(reg prometheus.Registerer, f *revocation.Fanout) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "weft_revocation_fresh",
		Help: "1 while this node is current on the revocation bus and may serve cached token lookups, else 0."},
		func() float64 {
			if f.Fresh() {
				return 1
			}
			return 0
		}))
	if f.Cache == nil {
		return
	}
	lookups := func(pick func(revocation.CacheStats) uint64) func() float64 {
		return func() float64 { return float64(pick(f.Cache.Stats())) }
	}
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "weft_token_cache_hits_total",
			Help: "Access-token lookups served from memory."}, lookups(func(s revocation.CacheStats) uint64 { return s.Hits })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "weft_token_cache_misses_total",
			Help: "Access-token lookups read from the database."}, lookups(func(s revocation.CacheStats) uint64 { return s.Misses })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "weft_token_cache_stale_total",
			Help: "Database reads of a cached token made because this node was not fresh on the revocation bus."},
			lookups(func(s revocation.CacheStats) uint64 { return s.Stale })),
	)
}

// registerThrottleMetrics exposes how many failures the throttles refused, and how
// often the shared (Redis) store failed and the node counted on its own.
func registerThrottleMetrics(reg prometheus.Registerer, a *app, logins *throttle.Login) {
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "weft_throttle_refused_total",
			Help: "Attempts refused (429) by a throttle without being checked.", ConstLabels: prometheus.Labels{"kind": "client_auth"}},
			func() float64 { return float64(a.clientThrottle.Refused()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "weft_throttle_refused_total",
			Help: "Attempts refused (429) by a throttle without being checked.", ConstLabels: prometheus.Labels{"kind": "login"}},
			func() float64 { return float64(logins.Refused()) }),
	)
	if a.throttleShared != nil {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "weft_throttle_store_errors_total",
			Help: "Throttle operations the shared store (Redis) failed, counted on this node instead."},
			func() float64 { return float64(a.throttleShared.Errors()) }))
	}
}

// registerOutboxMetrics exposes the outbox worker: deliveries in flight, and messages
// delivered, retried and given up by this node.
func registerOutboxMetrics(reg prometheus.Registerer, w *outbox.Worker) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "weft_outbox_in_flight",
			Help: "Back-channel logout tokens and security events being sent now (at most outbox_concurrency)."},
			func() float64 { return float64(w.Stats().InFlight) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "weft_outbox_delivered_total",
			Help: "Outbox messages this node delivered."},
			func() float64 { return float64(w.Stats().Delivered) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "weft_outbox_retries_total",
			Help: "Failed delivery attempts this node will retry."},
			func() float64 { return float64(w.Stats().Retried) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "weft_outbox_given_up_total",
			Help: "Outbox messages this node gave up (refused by the receiver, or out of attempts)."},
			func() float64 { return float64(w.Stats().GivenUp) }),
	)
}

// registerHashingMetrics exposes the bounded argon2id pool: how full it is, how many
// callers queue for it, and how many were answered 503 because it stayed full.
func registerHashingMetrics(reg prometheus.Registerer, h *password.Hasher) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "weft_password_hashing_in_use",
			Help: "argon2id runs executing now (at most weft_password_hashing_slots)."},
			func() float64 { return float64(h.Stats().InUse) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "weft_password_hashing_slots",
			Help: "argon2id runs allowed at once."},
			func() float64 { return float64(h.Stats().Slots) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "weft_password_hashing_waiting",
			Help: "Callers queued for an argon2id slot now."},
			func() float64 { return float64(h.Stats().Waiting) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "weft_password_hashing_rejected_total",
			Help: "Credential checks answered 503 because every argon2id slot stayed taken."},
			func() float64 { return float64(h.Stats().Rejected) }),
	)
}
