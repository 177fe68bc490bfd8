package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"path/filepath"
	"slices"
	"time"

	"github.com/ory/fosite"
	"github.com/redis/go-redis/v9"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/admin"
	"github.com/weft-fabric/weft/access/apply"
	"github.com/weft-fabric/weft/access/authzen"
	"github.com/weft-fabric/weft/access/backchannel"
	"github.com/weft-fabric/weft/access/fositestore"
	"github.com/weft-fabric/weft/access/gate"
	"github.com/weft-fabric/weft/access/gateway"
	"github.com/weft-fabric/weft/access/keys"
	"github.com/weft-fabric/weft/access/keys/keysql"
	"github.com/weft-fabric/weft/access/oauth"
	"github.com/weft-fabric/weft/access/outbound"
	"github.com/weft-fabric/weft/access/outbox"
	"github.com/weft-fabric/weft/access/redisstore"
	"github.com/weft-fabric/weft/access/revocation"
	"github.com/weft-fabric/weft/access/revocation/revocationapi"
	accsql "github.com/weft-fabric/weft/access/sqlstore"
	"github.com/weft-fabric/weft/access/ssf"
	"github.com/weft-fabric/weft/access/ssf/ssfapi"
	"github.com/weft-fabric/weft/access/throttle"
	"github.com/weft-fabric/weft/access/websession"
	"github.com/weft-fabric/weft/analytics"
	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/password"
	"github.com/weft-fabric/weft/identity/sqlstore"
	"github.com/weft-fabric/weft/policy"
	polsql "github.com/weft-fabric/weft/policy/sqlstore"
	"github.com/weft-fabric/weft/ui"
)

// The wiring, once: newApp builds the service graph that `weft serve` and every admin
// command share, so a suspension from the CLI revokes, fans out and signals exactly as
// one from the admin API does; newHTTP adds what only the server has (the endpoints and
// the outbox worker). Every service gets its dependencies when it is built.

// role is what a process does with the graph: the server keeps a token cache, signs
// and delivers; an admin command (the CLI) revokes and fans out like a server but
// signs nothing, since the server's outbox signs security events when it delivers them.
type role int

const (
	roleServer role = iota
	roleCLI
	// roleAuditor is an admin command that reads the audit log (weft audit): it needs
	// the key-encryption key the chain was keyed with and never generates one, since a
	// new key would only make every link look forged.
	roleAuditor
)

// The gate's principal cache and the client cache hear the fan-out's events.
var (
	_ revocation.Listener = (*gate.PrincipalCache)(nil)
	_ revocation.Listener = (*access.ClientCache)(nil)
)

// cliActor is the actor of revocations and changes made by admin commands.
const cliActor = "weft-cli"

// app is the wired service graph.
type app struct {
	cfg    Config
	log    *slog.Logger
	node   string // this process's name in receipts, on the bus and in audit checkpoints
	db     *sqlstore.DB
	rdb    *redis.Client // nil without Redis
	hasher *password.Hasher
	audit  *identity.AuditLog

	directory   *identity.Directory
	sessions    *identity.Sessions
	clients     *access.Clients
	clientCache *access.ClientCache
	apps        *identity.Applications
	routes      *access.Routes
	routeChange *gateway.RouteChanges // reloads this node's route table (server) and tells the others
	applier     *apply.Applier

	keys        *keys.Manager   // nil in the CLI
	provider    *oauth.Provider // nil in the CLI
	tokens      *fositestore.Store
	storage     access.TokenStorage // tokens, behind the node's cache when it has one
	revLog      *accsql.Revocations // the revocation store and its durable log
	fanout      *revocation.Fanout
	bus         *redisstore.Bus // nil without Redis
	outbox      *accsql.Outbox
	queue       wakingQueue    // the outbox as those who queue messages see it
	wake        *outbox.Signal // wakes this node's outbox worker
	transmitter *ssf.Transmitter
	outbound    *outbound.Guard // SSRF-safe client and URL check for SSF push and back-channel logout
	ssfSecrets  *keys.SecretBox // server only: admin commands hold no key-encryption key
	revocations *revocation.Service
	// The central policy: the engine every decision asks, and its versions.
	policy   *policy.Engine
	policies *policy.Service
	// policyReloads puts announced versions in force (a fan-out watcher).
	policyReloads *policyReloads
	principals    gate.Principals // behind the node's cache when it has one

	// Throttling of failed client authentications and logins, on Redis (behind a
	// per-node fallback) when configured, else in process.
	throttleStore  throttle.Store
	throttleShared *throttle.Fallback // nil without Redis
	clientThrottle *throttle.ClientAuth
}

func newApp(ctx context.Context, cfg Config, log *slog.Logger, r role) (_ *app, err error) {
	hasher, err := password.NewHasher(password.Params{
		MemoryKiB: cfg.Argon2MemoryKiB, Time: cfg.Argon2Time, Threads: cfg.Argon2Threads,
		SaltLen: password.DefaultParams.SaltLen, KeyLen: password.DefaultParams.KeyLen,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	mode := schemaRequire
	if cfg.MigrateOnStart {
		mode = schemaMigrate
	}
	db, err := openDB(ctx, cfg, log, mode)
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, log: log, node: cfg.nodeName(), db: db, hasher: hasher}
	if r != roleServer {
		a.node = "cli:" + a.node
	}
	defer func() {
		if err != nil {
			_ = a.Close()
		}
	}()
	// Every process that writes the audit log keys its links with the KEK (a CLI
	// command too: it revokes and applies), so every role needs it.
	kek, err := loadKEKFor(cfg, log, r)
	if err != nil {
		return nil, err
	}
	if a.audit, err = newAuditLog(a, kek, r); err != nil {
		return nil, err
	}
	if cfg.RedisURL != "" {
		opts, err := redis.ParseURL(cfg.RedisURL)
		if err != nil { // Validate parsed it already; keep the guard for safety
			return nil, fmt.Errorf("%w: redis_url: %w", errConfig, err)
		}
		redis.SetLogger(redisLogger{log})
		a.rdb = redis.NewClient(opts)
	}
	if err := a.buildThrottle(); err != nil {
		return nil, err
	}
	dirStore := sqlstore.NewDirectory(db)
	a.sessions = identity.NewSessions(sqlstore.NewSessions(db), cfg.LoginSessionTTL)
	a.clientCache = access.NewClientCache(accsql.NewClients(db), 10*time.Second)
	a.tokens = fositestore.New(db, a.clientCache, fositestore.Options{})
	a.outbox = accsql.NewOutbox(db)
	a.wake = outbox.NewSignal()
	a.queue = wakingQueue{Outbox: a.outbox, tx: db, wake: a.wake}
	a.revLog = accsql.NewRevocations(db)
	a.policy = policy.NewEngine()
	a.policies = policy.NewService(polsql.New(db), a.policy)
	a.policyReloads = &policyReloads{a: a, kick: make(chan struct{}, 1)}
	if err := a.buildFanout(r, dirStore, kek); err != nil {
		return nil, err
	}

	var lookup revocation.TokenLookup = cliTokens{}
	sign := access.JWTSigner(cliSign)
	if r == roleServer {
		if err := a.buildProvider(ctx, kek); err != nil {
			return nil, err
		}
		lookup, sign = a.provider, a.keys.SignJWT
	}
	// One outbound guard for every URL others choose: SSF push endpoints, back-channel
	// logout URIs; checked at registration and again at connect time.
	a.outbound = outbound.New(cfg.outboundPolicy(), outbound.Options{})
	a.transmitter = &ssf.Transmitter{Issuer: cfg.Issuer, Streams: accsql.NewStreams(db), Queue: a.queue, Tx: db,
		LongPoll: 10 * time.Second, Sign: sign, Client: a.outbound.Client(), URLs: a.outbound,
		ReasonReceivers: cfg.ssfReasonReceivers(), Wake: a.wake}
	if r == roleServer {
		a.transmitter.Secrets = a.ssfSecrets // a nil *SecretBox must not become a non-nil Sealer
		// Receivers' authorization headers stored in clear before migration 00018 are
		// encrypted now that the key-encryption key is at hand.
		if n, err := a.transmitter.SealLegacyHeaders(ctx); err != nil {
			return nil, fmt.Errorf("ssf: encrypt stored authorization headers: %w", err)
		} else if n > 0 {
			log.Info("encrypted SSF push authorization headers stored in clear", "count", n)
		}
	}
	a.revocations, err = revocation.NewService(revocation.Deps{Store: a.revLog, Grants: a.tokens, Lookup: lookup,
		Sessions: a.sessions, Subjects: dirStore, Clients: a.clientCache, Tx: db, Fanout: a.fanout, Audit: a.audit,
		Outbox: a.queue, Participants: a.tokens, Signals: a.transmitter, Logger: log})
	if err != nil {
		return nil, err
	}
	// The directory tells, in this order, the revocation service (suspending revokes)
	// and the SSF transmitter (account changes become security events) of every account
	// change, inside the change's transaction, whichever path makes it.
	a.directory = identity.NewDirectory(dirStore, db, hasher, a.revocations, a.transmitter)
	// Clients are written through the cache, so a client the admin API creates is not
	// hidden from the token endpoint by a cached "not found".
	// The revocation service hears of every client disabled or rotated, whichever path
	// does it, and revokes and tells every node.
	a.clients = access.NewClients(a.clientCache, dirStore, db, hasher, a.revocations).CheckPushURLsWith(a.outbound)
	a.routeChange = &gateway.RouteChanges{Tx: db, Publish: a.fanout.Publish, Logger: log}
	a.apps = identity.NewApplications(sqlstore.NewApplications(db), db, a.routeChange)
	a.routes = access.NewRoutes(accsql.NewRoutes(db), a.apps)
	a.applier = &apply.Applier{Directory: a.directory, Clients: a.clients, Applications: a.apps, Routes: a.routes}
	return a, nil
}

// Close releases the database and Redis connections.
func (a *app) Close() error {
	var err error
	if a.rdb != nil {
		err = a.rdb.Close()
	}
	return errors.Join(err, a.db.Close())
}

// buildThrottle chooses where failures are counted: on Redis when it is configured, so
// a limit holds for the cluster (an attacker spreading guesses over nodes gains
// nothing), else in process. A Redis outage falls back to counting on this node, logged
// and in weft_throttle_store_errors_total: neither everyone refused nor no limit at all
// (see throttle.Fallback).
func (a *app) buildThrottle() error {
	cfg := a.cfg
	a.throttleStore = throttle.NewLocal()
	if a.rdb != nil {
		a.throttleShared = throttle.NewFallback(redisstore.NewThrottle(a.rdb, cfg.RedisPrefix), a.throttleStore, a.log)
		a.throttleStore = a.throttleShared
	}
	var err error
	a.clientThrottle, err = throttle.NewClientAuth(a.throttleStore, throttle.ClientAuthLimits{
		PerClient: throttle.PerMinute(cfg.ClientAuthFailuresPerClient), PerIP: throttle.PerMinute(cfg.ClientAuthFailuresPerIP),
		KnownFor: throttle.DefaultClientAuthLimits.KnownFor, Hold: cfg.ClientAuthRefusalHold})
	return err
}

// loginThrottle is the login form's throttle over the app's store.
func (a *app) loginThrottle() (*throttle.Login, error) {
	cfg := a.cfg
	return throttle.NewLogin(a.throttleStore, throttle.LoginLimits{
		PerIP: throttle.PerMinute(cfg.LoginFailuresPerIP), PerAccountIP: throttle.PerMinute(cfg.LoginFailuresPerAccountIP),
		PerAccount: throttle.PerMinute(cfg.LoginFailuresPerAccount), MaxDelay: cfg.LoginMaxDelay,
		DeviceKnownFor: throttle.DefaultLoginLimits.DeviceKnownFor})
}

// buildFanout wires this process's part in the revocation fabric.
func (a *app) buildFanout(r role, subjects gate.Subjects, kek []byte) error {
	cfg := a.cfg
	node := a.node
	// The client cache hears every event, whatever the topology: a client disabled or
	// its secret rotated must be refused at once, not after the cache's TTL. A revocation
	// applied here, whichever node made it, may have queued deliveries: Notify wakes the
	// outbox worker.
	f := &revocation.Fanout{Node: node, Log: a.revLog, Logger: a.log, Listeners: []revocation.Listener{a.clientCache},
		Watchers: []revocation.Watcher{a.policyReloads}, Notify: a.wake.Notify}
	a.fanout, a.storage, a.principals = f, a.tokens, gate.DirectoryPrincipals{Subjects: subjects}
	switch {
	case cfg.DatabaseURL == "":
		// One node on SQLite (even with Redis configured: nothing else can share the
		// file): revocations apply in process; the server's log follower picks up those
		// another process (the CLI) makes on the same file.
		f.Bus = revocation.LocalBus{}
	case a.rdb != nil:
		// Several nodes: revocations travel on Redis pub/sub; a server serves its cache
		// only while it is fresh on the bus. A CLI command publishes and hears the
		// acknowledgements like a server would.
		busKey, err := keys.BusKey(kek)
		if err != nil {
			return err
		}
		if a.bus, err = redisstore.NewBus(a.rdb, cfg.RedisPrefix, node, f, a.log, redisstore.BusOptions{Key: busKey}); err != nil {
			return err
		}
		f.Bus = a.bus
	default:
		if r == roleServer {
			a.log.Info("no Redis configured with PostgreSQL: token lookups are not cached, since other nodes' revocations could not reach the cache")
		}
		return nil
	}
	if r == roleServer {
		f.Cache = revocation.NewTokenCache(a.tokens, time.Minute, 100000)
		f.Cache.Attach(f.Fresh, func(ctx context.Context, ev revocation.Event) error {
			_, err := f.Publish(ctx, ev)
			return err
		})
		a.storage = f.Cache
		// The gate's principals live beside the tokens, under the same rules: dropped by
		// the same events, served only while the node is fresh.
		pc := gate.NewPrincipalCache(a.principals, f.Fresh, time.Minute, 100000)
		f.Listeners = append(f.Listeners, pc)
		a.principals = pc
	}
	return nil
}

// buildProvider loads the signing keys and composes fosite over the node's storage.
func (a *app) buildProvider(ctx context.Context, kek []byte) error {
	cfg := a.cfg
	km, err := keys.New(keysql.New(a.db), a.db, keys.Config{KEK: kek, Logger: a.log, Refresh: cfg.SigningKeysRefresh})
	if err != nil {
		return err
	}
	if created, err := km.EnsureKeys(ctx); err != nil {
		return fmt.Errorf("signing keys: %w", err)
	} else if len(created) > 0 {
		a.log.Info("created signing keys", "count", len(created))
	}
	secret, err := keys.TokenHMACSecret(kek)
	if err != nil {
		return err
	}
	a.keys = km
	// Receivers' push authorization headers are stored encrypted (issue 9, L5).
	if a.ssfSecrets, err = keys.NewSecretBox(kek, "ssf authorization header"); err != nil {
		return err
	}
	verifier, err := oauth.NewSecretVerifier(a.hasher, a.clientThrottle, 5*time.Minute, 10000)
	if err != nil {
		return err
	}
	a.provider, err = oauth.NewProvider(oauth.Config{
		Issuer: cfg.Issuer, AccessTokenTTL: cfg.AccessTokenTTL, RefreshTokenTTL: cfg.RefreshTokenTTL,
		IDTokenTTL: cfg.IDTokenTTL, HMACSecret: secret,
	}, a.storage, oauth.Signers{ES256: km.FositeSigner(keys.ES256), RS256: km.FositeSigner(keys.RS256)},
		verifier, a.clientCache)
	return err
}

// surfaces are the server's HTTP endpoints and its outbox worker.
type surfaces struct {
	oauth       *oauth.Handler
	pages       *ui.Pages
	admin       *admin.Handler
	revocations *revocationapi.Handler
	ssf         *ssfapi.Handler
	authzen     *authzen.Handler
	outbox      *outbox.Worker
	logins      *throttle.Login
	gateway     *gateway.Handler
	routeTable  *gateway.RouteTable
}

// newHTTP builds the server's endpoints over a (built with roleServer).
func newHTTP(a *app) (*surfaces, error) {
	g, err := gate.New(gate.Deps{Tokens: a.provider, Principals: a.principals, Risk: analytics.NoRisk{},
		Policy: a.policy, Events: analytics.Discard{}, Logger: a.log})
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(a.cfg.Issuer)
	cookies := websession.Cookies{Secure: u.Scheme == "https"}
	browser := websession.NewBrowser(cookies, a.sessions, a.directory)
	consents := accsql.NewConsents(a.db)
	logins, err := a.loginThrottle()
	if err != nil {
		return nil, err
	}
	limiter, err := ui.NewLimiter(logins, a.cfg.LoginMaxInFlightPerIP)
	if err != nil {
		return nil, err
	}
	pages := &ui.Pages{Directory: a.directory, Sessions: a.sessions, Browser: browser, Clients: a.clientCache, Consents: consents,
		Cookies: cookies, Limiter: limiter, Logger: a.log}
	h, err := oauth.NewHandler(oauth.Handler{Provider: a.provider, Gate: g, Clients: a.clientCache, Keys: a.keys, Logger: a.log,
		Directory: a.directory, Sessions: a.sessions, Consents: consents, Cookies: cookies, Browser: browser,
		Logout: a.revocations, ConfirmLogout: pages.ConfirmLogout, SignedOut: pages.SignedOut, Audit: a.audit,
		ClientThrottle: a.clientThrottle})
	if err != nil {
		return nil, err
	}
	bcl := &backchannel.Sender{Issuer: a.cfg.Issuer, Sign: a.keys.SignJWT, Client: a.outbound.Client()}
	worker, err := outbox.NewWorker(a.outbox, map[string]outbox.Deliverer{
		backchannel.Kind: bcl.Deliver,
		ssf.KindPush:     a.transmitter.DeliverPush,
	}, a.audit, a.log, outbox.Config{Concurrency: a.cfg.OutboxConcurrency, PerTarget: a.cfg.OutboxPerTarget,
		Timeout: a.cfg.OutboxTimeout, Poll: a.cfg.OutboxPollInterval, MaxAttempts: a.cfg.OutboxMaxAttempts,
		GiveUpAfter: a.cfg.OutboxGiveUpAfter, Wake: a.wake, GivenUp: a.transmitter.GivenUp})
	if err != nil {
		return nil, err
	}
	gw, table, err := newGateway(a, g, browser, cookies)
	if err != nil {
		return nil, err
	}
	adm, err := admin.New(admin.Handler{Directory: a.directory, Gate: g, Logger: a.log, Clients: a.clients, Audit: a.audit,
		Sessions: a.sessions, SessionTokens: a.tokens, Revocations: a.revocations, Applications: a.apps, Routes: a.routes})
	if err != nil {
		return nil, err
	}
	return &surfaces{
		oauth: h,
		pages: pages,
		admin: adm,
		revocations: &revocationapi.Handler{Revocations: a.revocations, Gate: g, Users: a.directory, Clients: a.clients,
			Machines: a.directory, Admins: a.directory},
		ssf: &ssfapi.Handler{Transmitter: a.transmitter, Gate: g, Admins: a.directory},
		authzen: &authzen.Handler{Issuer: a.cfg.Issuer, Gate: g, Evaluator: a.policy, Actions: a.policy,
			Logger: a.log},
		outbox:     worker,
		logins:     logins,
		gateway:    gw,
		routeTable: table,
	}, nil
}

// newGateway builds forward-auth: the route table, loaded now and kept current through
// the fan-out, and the session and profile caches, which serve from memory only where
// the token cache does (a node that hears every revocation).
func newGateway(a *app, g *gate.Gate, browser *websession.Browser, cookies websession.Cookies) (*gateway.Handler, *gateway.RouteTable, error) {
	table := gateway.NewRouteTable(a.routes, a.apps, a.log)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := table.Reload(ctx); err != nil {
		return nil, nil, err
	}
	a.routeChange.Table = table
	fresh := func() bool { return false } // PostgreSQL without Redis: other nodes' revocations cannot reach memory
	if a.fanout.Cache != nil {
		fresh = a.fanout.Fresh
	}
	sessions := gateway.NewSessionCache(a.sessions, fresh, time.Minute, 100000)
	profiles := gateway.NewProfileCache(a.directory, fresh, 30*time.Second, 100000)
	a.fanout.Watchers = append(a.fanout.Watchers, table, sessions, profiles)
	h, err := gateway.New(gateway.Handler{Gate: g, Routes: table, Sessions: sessions, Profiles: profiles, Browser: browser,
		Cookies: cookies, TrustedProxies: a.cfg.trustedProxies(), Issuer: a.cfg.Issuer, Logger: a.log})
	return h, table, err
}

// wakingQueue is the outbox as those who queue messages see it: once the transaction
// that queued a message commits, this node's worker is woken to deliver it at once
// (other nodes hear of revocations through the fan-out; polling is the fallback).
type wakingQueue struct {
	*accsql.Outbox
	tx   identity.Transactor
	wake *outbox.Signal
}

func (q wakingQueue) Enqueue(ctx context.Context, m outbox.Message) error {
	if err := q.Outbox.Enqueue(ctx, m); err != nil {
		return err
	}
	q.tx.AfterCommit(ctx, func(context.Context) { q.wake.Notify() })
	return nil
}

// cliTokens stands in for the provider in admin commands: they revoke users, sessions,
// devices and clients, never a token by its value, and hold no token secret.
type cliTokens struct{}

func (cliTokens) IntrospectToken(context.Context, string, fosite.TokenUse, fosite.Session, ...string) (fosite.TokenUse, fosite.AccessRequester, error) {
	return "", nil, errors.New("looking up a token by its value needs the server (weft serve)")
}

// cliSign stands in for the signer in admin commands: they queue security events, and
// the server's outbox signs them when it delivers them.
func cliSign(context.Context, map[string]any, string) (string, error) {
	return "", errors.New("admin commands do not sign: the server signs security events when it delivers them")
}

// loadKEKFor returns the key-encryption key for a process in role r: loadKEK's, except
// that an auditor never generates one and says clearly what it needs instead.
func loadKEKFor(cfg Config, log *slog.Logger, r role) ([]byte, error) {
	if r != roleAuditor || cfg.KeyEncryptionKey != "" {
		return loadKEK(cfg, log)
	}
	const need = "the audit log is verified with the key-encryption key it was keyed with"
	if cfg.DatabaseURL != "" {
		return nil, fmt.Errorf("%w: %s: set WEFT_KEY_ENCRYPTION_KEY (key_encryption_key)", errConfig, need)
	}
	path := filepath.Join(cfg.DataDir, "kek")
	kek, err := keys.ReadKEKFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s, and %s does not exist: restore it from a backup, or set WEFT_KEY_ENCRYPTION_KEY", errConfig, need, path)
	}
	return kek, err
}

// newAuditLog builds the keyed audit log of a process in role r. Its checkpoints are
// also kept in data_dir/audit-head, except by an admin command on PostgreSQL, whose
// data directory is not a server's.
func newAuditLog(a *app, kek []byte, r role) (*identity.AuditLog, error) {
	ks, err := keys.AuditKeys(kek)
	if err != nil {
		return nil, err
	}
	cfg := identity.AuditConfig{Keys: ks, Node: a.node, Logger: a.log}
	if r != roleCLI || a.cfg.DatabaseURL == "" {
		cfg.Anchor = identity.AuditHeadFile{Path: filepath.Join(a.cfg.DataDir, "audit-head")}
	}
	return identity.NewAuditLog(sqlstore.NewAudit(a.db), a.db, cfg)
}

// loadKEK returns the key-encryption key: from configuration, or on the embedded
// default a generated file in the data directory. With PostgreSQL it must be configured:
// nodes that generated their own keys could not read each other's signing keys.
func loadKEK(cfg Config, log *slog.Logger) ([]byte, error) {
	if cfg.KeyEncryptionKey != "" {
		return keys.ParseKEK(cfg.KeyEncryptionKey)
	}
	if cfg.DatabaseURL != "" {
		return nil, fmt.Errorf("%w: WEFT_KEY_ENCRYPTION_KEY (key_encryption_key) is required with PostgreSQL: every node must share it (generate one with: openssl rand -base64 32)", errConfig)
	}
	path := filepath.Join(cfg.DataDir, "kek")
	kek, created, err := keys.LoadOrCreateKEKFile(path)
	if err != nil {
		return nil, err
	}
	if created {
		log.Warn("generated a key-encryption key for the embedded default; set WEFT_KEY_ENCRYPTION_KEY in production and back this file up: without it the signing keys cannot be read",
			"path", path)
	}
	return kek, nil
}

// reloadPolicy is the fan-out reload that announces a new policy version.
const reloadPolicy = "policy"

// policyReloads loads the newest policy version when the bus announces one, after a
// resync (which may have missed one), and every poll interval, one load at a time.
type policyReloads struct {
	a    *app
	kick chan struct{}
}

// Watch implements revocation.Watcher; it never blocks the bus.
func (w *policyReloads) Watch(ev revocation.Event) {
	if ev.All || slices.Contains(ev.Reload, reloadPolicy) {
		select {
		case w.kick <- struct{}{}:
		default: // a load is already pending
		}
	}
}

func (w *policyReloads) run(ctx context.Context, poll time.Duration) {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.kick:
		case <-t.C:
		}
		w.a.syncPolicy(ctx)
	}
}

// syncPolicy puts the newest stored policy version in force on this node. A version
// that cannot be loaded leaves the one in force, and says so.
func (a *app) syncPolicy(ctx context.Context) {
	before := a.policy.Current().Version()
	v, err := a.policies.Sync(ctx)
	switch {
	case err != nil:
		a.log.ErrorContext(ctx, "policy: the newest version could not be put in force; the previous one stays", "version_in_force", v, "error", err.Error())
	case v != before:
		a.log.InfoContext(ctx, "policy: version in force", "version", v)
	}
}
