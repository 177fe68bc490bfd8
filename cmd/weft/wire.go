package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"time"

	"github.com/ory/fosite"
	"github.com/redis/go-redis/v9"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/admin"
	"github.com/weft-fabric/weft/access/apply"
	"github.com/weft-fabric/weft/access/backchannel"
	"github.com/weft-fabric/weft/access/fositestore"
	"github.com/weft-fabric/weft/access/gate"
	"github.com/weft-fabric/weft/access/keys"
	"github.com/weft-fabric/weft/access/keys/keysql"
	"github.com/weft-fabric/weft/access/oauth"
	"github.com/weft-fabric/weft/access/outbox"
	"github.com/weft-fabric/weft/access/redisstore"
	"github.com/weft-fabric/weft/access/revocation"
	"github.com/weft-fabric/weft/access/revocation/revocationapi"
	accsql "github.com/weft-fabric/weft/access/sqlstore"
	"github.com/weft-fabric/weft/access/ssf"
	"github.com/weft-fabric/weft/access/ssf/ssfapi"
	"github.com/weft-fabric/weft/access/websession"
	"github.com/weft-fabric/weft/analytics"
	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/password"
	"github.com/weft-fabric/weft/identity/sqlstore"
	"github.com/weft-fabric/weft/policy"
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
)

// The gate's principal cache hears the fan-out's events.
var _ revocation.Listener = (*gate.PrincipalCache)(nil)

// cliActor is the actor of revocations and changes made by admin commands.
const cliActor = "weft-cli"

// app is the wired service graph.
type app struct {
	cfg    Config
	log    *slog.Logger
	db     *sqlstore.DB
	rdb    *redis.Client // nil without Redis
	hasher *password.Hasher
	audit  *identity.AuditLog

	directory   *identity.Directory
	sessions    *identity.Sessions
	clients     *access.Clients
	clientCache *access.ClientCache
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
	revocations *revocation.Service
	principals  gate.Principals // behind the node's cache when it has one
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
	a := &app{cfg: cfg, log: log, db: db, hasher: hasher, audit: newAuditLog(db)}
	defer func() {
		if err != nil {
			_ = a.Close()
		}
	}()
	if cfg.RedisURL != "" {
		opts, err := redis.ParseURL(cfg.RedisURL)
		if err != nil { // Validate parsed it already; keep the guard for safety
			return nil, fmt.Errorf("%w: redis_url: %w", errConfig, err)
		}
		redis.SetLogger(redisLogger{log})
		a.rdb = redis.NewClient(opts)
	}
	dirStore := sqlstore.NewDirectory(db)
	a.sessions = identity.NewSessions(sqlstore.NewSessions(db), cfg.LoginSessionTTL)
	a.clientCache = access.NewClientCache(accsql.NewClients(db), 10*time.Second)
	a.tokens = fositestore.New(db, a.clientCache, fositestore.Options{})
	a.outbox = accsql.NewOutbox(db)
	a.wake = outbox.NewSignal()
	a.queue = wakingQueue{Outbox: a.outbox, tx: db, wake: a.wake}
	a.revLog = accsql.NewRevocations(db)
	a.buildFanout(r, dirStore)

	var lookup revocation.TokenLookup = cliTokens{}
	sign := access.JWTSigner(cliSign)
	if r == roleServer {
		if err := a.buildProvider(ctx); err != nil {
			return nil, err
		}
		lookup, sign = a.provider, a.keys.SignJWT
	}
	a.transmitter = &ssf.Transmitter{Issuer: cfg.Issuer, Streams: accsql.NewStreams(db), Queue: a.queue, Tx: db,
		LongPoll: 10 * time.Second, Sign: sign, Client: relyingPartyClient(), Wake: a.wake}
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
	a.clients = access.NewClients(a.clientCache, dirStore, db, hasher)
	a.applier = &apply.Applier{Directory: a.directory, Clients: a.clients}
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

// buildFanout wires this process's part in the revocation fabric.
func (a *app) buildFanout(r role, subjects gate.Subjects) {
	cfg := a.cfg
	node := cfg.nodeName()
	if r == roleCLI {
		node = "cli:" + node
	}
	// A revocation applied here, whichever node made it, may have queued deliveries.
	f := &revocation.Fanout{Node: node, Log: a.revLog, Logger: a.log, Notify: a.wake.Notify}
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
		a.bus = redisstore.NewBus(a.rdb, cfg.RedisPrefix, node, f, a.log, redisstore.BusOptions{})
		f.Bus = a.bus
	default:
		if r == roleServer {
			a.log.Info("no Redis configured with PostgreSQL: token lookups are not cached, since other nodes' revocations could not reach the cache")
		}
		return
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
}

// buildProvider loads the signing keys and composes fosite over the node's storage.
func (a *app) buildProvider(ctx context.Context) error {
	cfg := a.cfg
	kek, err := loadKEK(cfg, a.log)
	if err != nil {
		return err
	}
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
	a.provider, err = oauth.NewProvider(oauth.Config{
		Issuer: cfg.Issuer, AccessTokenTTL: cfg.AccessTokenTTL, RefreshTokenTTL: cfg.RefreshTokenTTL,
		IDTokenTTL: cfg.IDTokenTTL, HMACSecret: secret,
	}, a.storage, oauth.Signers{ES256: km.FositeSigner(keys.ES256), RS256: km.FositeSigner(keys.RS256)},
		oauth.NewSecretVerifier(a.hasher, 5*time.Minute, 10000), a.clientCache)
	return err
}

// surfaces are the server's HTTP endpoints and its outbox worker.
type surfaces struct {
	oauth       *oauth.Handler
	pages       *ui.Pages
	admin       *admin.Handler
	revocations *revocationapi.Handler
	ssf         *ssfapi.Handler
	outbox      *outbox.Worker
}

// newHTTP builds the server's endpoints over a (built with roleServer).
func newHTTP(a *app) (*surfaces, error) {
	g, err := gate.New(gate.Deps{Tokens: a.provider, Principals: a.principals, Risk: analytics.NoRisk{},
		Policy: policy.AllowAll{}, Events: analytics.Discard{}, Logger: a.log})
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(a.cfg.Issuer)
	cookies := websession.Cookies{Secure: u.Scheme == "https"}
	browser := websession.NewBrowser(cookies, a.sessions, a.directory)
	consents := accsql.NewConsents(a.db)
	pages := &ui.Pages{Directory: a.directory, Sessions: a.sessions, Browser: browser, Clients: a.clientCache, Consents: consents,
		Cookies: cookies, Limiter: ui.NewLimiter(10, 10), Logger: a.log}
	h, err := oauth.NewHandler(oauth.Handler{Provider: a.provider, Gate: g, Clients: a.clientCache, Keys: a.keys, Logger: a.log,
		Directory: a.directory, Sessions: a.sessions, Consents: consents, Cookies: cookies, Browser: browser,
		Logout: a.revocations, ConfirmLogout: pages.ConfirmLogout, SignedOut: pages.SignedOut, Audit: a.audit})
	if err != nil {
		return nil, err
	}
	bcl := &backchannel.Sender{Issuer: a.cfg.Issuer, Sign: a.keys.SignJWT, Client: relyingPartyClient()}
	worker, err := outbox.NewWorker(a.outbox, map[string]outbox.Deliverer{
		backchannel.Kind: bcl.Deliver,
		ssf.KindPush:     a.transmitter.DeliverPush,
	}, a.audit, a.log, outbox.Config{Concurrency: a.cfg.OutboxConcurrency, PerTarget: a.cfg.OutboxPerTarget,
		Timeout: a.cfg.OutboxTimeout, Poll: a.cfg.OutboxPollInterval, MaxAttempts: a.cfg.OutboxMaxAttempts,
		GiveUpAfter: a.cfg.OutboxGiveUpAfter, Wake: a.wake, GivenUp: a.transmitter.GivenUp})
	if err != nil {
		return nil, err
	}
	adm, err := admin.New(admin.Handler{Directory: a.directory, Gate: g, Logger: a.log, Clients: a.clients, Audit: a.audit,
		Sessions: a.sessions, SessionTokens: a.tokens, Revocations: a.revocations})
	if err != nil {
		return nil, err
	}
	return &surfaces{
		oauth:       h,
		pages:       pages,
		admin:       adm,
		revocations: &revocationapi.Handler{Revocations: a.revocations, Gate: g, Users: a.directory, Admins: a.directory},
		ssf:         &ssfapi.Handler{Transmitter: a.transmitter, Gate: g, Admins: a.directory},
		outbox:      worker,
	}, nil
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

// relyingPartyClient posts logout tokens and security events: 10 s and no redirects (an
// endpoint that redirects is misconfigured, and following it would send the token, and
// a receiver's authorization header, elsewhere).
func relyingPartyClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
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
