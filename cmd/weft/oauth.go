package main

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/json"

	"github.com/go-jose/go-jose/v4"
	"github.com/redis/go-redis/v9"

	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"time"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/access/admin"
	"github.com/weft-fabric/weft/access/fositestore"
	"github.com/weft-fabric/weft/access/keys"
	"github.com/weft-fabric/weft/access/keys/keysql"
	"github.com/weft-fabric/weft/access/redisstore"
	accsql "github.com/weft-fabric/weft/access/sqlstore"
	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/password"
	"github.com/weft-fabric/weft/identity/sqlstore"
	"github.com/weft-fabric/weft/ui"
)

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

// tokenHMACSecret derives the secret that signs opaque tokens from the KEK, so that an
// operator configures one secret, not two. Changing the KEK therefore invalidates every
// outstanding code and token, which is what rotating a compromised KEK should do.
func tokenHMACSecret(kek []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, kek, nil, "weft token hmac v1", 32)
}

// oauth is the wired OAuth/OIDC provider.
type oauth struct {
	keys    *keys.Manager
	handler *access.Handler
	pages   *ui.Pages
	tokens  *fositestore.Store
	admin   *admin.Handler
	revoke  *access.RevocationAPI
	outbox  *access.Outbox
	fanout  *access.Fanout
	bus     *redisstore.Bus // nil on a single node
}

// jwtSigner signs logout tokens (and later security event tokens) with the current
// ES256 key, carrying its kid, through go-jose v4.
func jwtSigner(km *keys.Manager) access.JWTSigner {
	return func(ctx context.Context, claims map[string]any, typ string) (string, error) {
		kid, priv, err := km.SigningKey(ctx, keys.ES256)
		if err != nil {
			return "", err
		}
		opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader("kid", kid)
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv}, opts)
		if err != nil {
			return "", err
		}
		payload, err := json.Marshal(claims)
		if err != nil {
			return "", err
		}
		jws, err := signer.Sign(payload)
		if err != nil {
			return "", err
		}
		return jws.CompactSerialize()
	}
}

// newOAuth wires the provider; rdb is nil without Redis.
func newOAuth(ctx context.Context, cfg Config, a *app, log *slog.Logger, hasher *password.Hasher, rdb *redis.Client) (*oauth, error) {
	kek, err := loadKEK(cfg, log)
	if err != nil {
		return nil, err
	}
	km, err := keys.New(keysql.New(a.db), a.db, keys.Config{KEK: kek, Logger: log, Refresh: cfg.SigningKeysRefresh})
	if err != nil {
		return nil, err
	}
	if created, err := km.EnsureKeys(ctx); err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	} else if len(created) > 0 {
		log.Info("created signing keys", "count", len(created))
	}
	secret, err := tokenHMACSecret(kek)
	if err != nil {
		return nil, err
	}
	clientCache := access.NewClientCache(accsql.NewClients(a.db), 10*time.Second)
	tokens := fositestore.New(a.db, clientCache, fositestore.Options{})
	var storage interface {
		access.TokenStorage
		access.SessionRevoker
	} = tokens
	revocationLog := accsql.NewRevocations(a.db)
	fanout := &access.Fanout{Node: cfg.nodeName(), Log: revocationLog, Logger: log}
	var bus *redisstore.Bus
	switch {
	case cfg.DatabaseURL == "":
		// One node on SQLite: revocations apply in process; the log follower picks up
		// those another process (the CLI) makes on the same file.
		fanout.Cache, fanout.Bus = access.NewTokenCache(tokens, time.Minute, 100000), access.LocalBus{}
	case rdb != nil:
		// Several nodes: revocations travel on Redis pub/sub, and a node serves its
		// cache only while it is fresh on the bus.
		fanout.Cache = access.NewTokenCache(tokens, time.Minute, 100000)
		bus = redisstore.NewBus(rdb, cfg.RedisPrefix, fanout.Node, fanout, log, redisstore.BusOptions{})
		fanout.Bus = bus
	default:
		log.Info("no Redis configured with PostgreSQL: token lookups are not cached, since other nodes' revocations could not reach the cache")
	}
	if c := fanout.Cache; c != nil {
		c.Attach(fanout.Fresh, func(ctx context.Context, ev access.RevocationEvent) error {
			_, err := fanout.Publish(ctx, ev)
			return err
		})
		storage = c
	}
	provider, err := access.NewProvider(access.Config{
		Issuer: cfg.Issuer, AccessTokenTTL: cfg.AccessTokenTTL, RefreshTokenTTL: cfg.RefreshTokenTTL,
		IDTokenTTL: cfg.IDTokenTTL, HMACSecret: secret,
	}, storage, access.Signers{ES256: km.FositeSigner(keys.ES256), RS256: km.FositeSigner(keys.RS256)}, access.NewSecretVerifier(hasher, 5*time.Minute, 10000), clientCache)
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(cfg.Issuer)
	cookies := access.Cookies{Secure: u.Scheme == "https"}
	sessions := identity.NewSessions(sqlstore.NewSessions(a.db), cfg.LoginSessionTTL)
	consents := accsql.NewConsents(a.db)
	h := &access.Handler{Provider: provider, Clients: clientCache, Keys: km, Logger: log,
		Directory: a.directory, Sessions: sessions, Consents: consents, Cookies: cookies, Revoker: storage}
	pages := &ui.Pages{Directory: a.directory, Sessions: sessions, Auth: h, Clients: clientCache, Consents: consents,
		Cookies: cookies, Limiter: ui.NewLimiter(10, 10), Logger: log}
	h.ConfirmLogout = pages.ConfirmLogout
	h.Audit = a.audit
	// The admin API writes clients through the cache, so a client it creates is not
	// hidden from the token endpoint by a cached "not found".
	dirStore := sqlstore.NewDirectory(a.db)
	adm := &admin.Handler{Directory: a.directory, Tokens: provider, Logger: log,
		Clients: access.NewClients(clientCache, dirStore, a.db, hasher), Audit: a.audit}
	outboxStore := accsql.NewOutbox(a.db)
	h.Outbox, h.Participants = outboxStore, tokens
	revocations := &access.Revocations{Store: revocationLog, Grants: tokens, Lookup: provider,
		Sessions: sessions, Directory: a.directory, Clients: clientCache, Tx: a.db, Fanout: fanout, Audit: a.audit,
		Outbox: outboxStore, Participants: tokens}
	adm.Sessions, adm.SessionTokens, adm.Revocations = sessions, tokens, revocations // /sessions; status changes revoke
	// Relying parties get 10 s and no redirects: a logout endpoint that redirects is
	// misconfigured, and following it would send the token elsewhere.
	rpClient := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	bcl := &access.BackchannelLogout{Issuer: cfg.Issuer, Sign: jwtSigner(km), Client: rpClient}
	outbox := &access.Outbox{Store: outboxStore, Logger: log, Audit: a.audit,
		Deliver: map[string]access.Deliverer{access.KindBackchannelLogout: bcl.Deliver}}
	return &oauth{keys: km, handler: h, pages: pages, tokens: tokens, admin: adm,
		revoke: &access.RevocationAPI{Revocations: revocations, Tokens: provider}, outbox: outbox,
		fanout: fanout, bus: bus}, nil
}
