package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"

	"github.com/weft-fabric/weft/access"
)

// Config is what the OAuth/OIDC provider needs from configuration.
type Config struct {
	Issuer          string
	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration
	AuthCodeTTL     time.Duration
	IDTokenTTL      time.Duration
	// HMACSecret signs opaque tokens (codes, access and refresh tokens). Every node must
	// share it; at least 32 bytes.
	HMACSecret []byte
}

// Defaults fills unset lifetimes with conservative values (RFC 9700: short-lived codes
// and access tokens, rotating refresh tokens).
func (c Config) withDefaults() Config {
	if c.AccessTokenTTL == 0 {
		c.AccessTokenTTL = 10 * time.Minute
	}
	if c.RefreshTokenTTL == 0 {
		c.RefreshTokenTTL = 24 * time.Hour
	}
	if c.AuthCodeTTL == 0 {
		c.AuthCodeTTL = time.Minute
	}
	if c.IDTokenTTL == 0 {
		c.IDTokenTTL = time.Hour
	}
	return c
}

// Signers sign tokens per algorithm.
type Signers struct {
	ES256 jwt.Signer // the default, for ID tokens and JWT access tokens
	RS256 jwt.Signer // ID tokens of clients registered with id_token_signed_response_alg: RS256
}

// idTokenAlgs signs each ID token with the algorithm its client registered.
type idTokenAlgs struct {
	clients      access.ClientLookup
	es256, rs256 openid.OpenIDConnectTokenStrategy
}

func (s *idTokenAlgs) GenerateIDToken(ctx context.Context, lifespan time.Duration, r fosite.Requester) (string, error) {
	if cl, err := s.clients.Client(ctx, r.GetClient().GetID()); err == nil && cl.IDTokenSigningAlg == "RS256" {
		return s.rs256.GenerateIDToken(ctx, lifespan, r)
	}
	return s.es256.GenerateIDToken(ctx, lifespan, r)
}

// Provider is the composed fosite provider plus the settings handlers need.
type Provider struct {
	fosite.OAuth2Provider
	cfg    Config
	fosite *fosite.Config
	store  access.TokenStorage
	// For the lean introspection path: the access token strategy fosite uses, and the
	// secret verifier when it is the caching one (nil otherwise: no lean path).
	tokens  oauth2.CoreStrategy
	secrets *SecretVerifier
}

// NewProvider composes fosite with Weft's security defaults: PKCE required for every
// client and S256 only, exact scope matching, no implicit, hybrid or password grants,
// no debug detail in error responses.
//
// signers sign with the current key of each algorithm and verify against every published
// key (access/keys.Manager.FositeSigner): fosite's DefaultSigner would verify against the
// current key only and reject still-valid tokens after a rotation.
//
// clients tells which clients want JWT access tokens (RFC 9068) or RS256 ID tokens.
func NewProvider(cfg Config, store access.TokenStorage, signers Signers, secrets fosite.Hasher, clients access.ClientLookup) (*Provider, error) {
	cfg = cfg.withDefaults()
	if len(cfg.HMACSecret) < 32 {
		return nil, errors.New("access: the token HMAC secret must be at least 32 bytes")
	}
	if _, err := url.Parse(cfg.Issuer); err != nil || cfg.Issuer == "" {
		return nil, fmt.Errorf("access: invalid issuer %q", cfg.Issuer)
	}
	fc := &fosite.Config{
		AccessTokenLifespan:   cfg.AccessTokenTTL,
		RefreshTokenLifespan:  cfg.RefreshTokenTTL,
		AuthorizeCodeLifespan: cfg.AuthCodeTTL,
		IDTokenLifespan:       cfg.IDTokenTTL,
		IDTokenIssuer:         cfg.Issuer,
		AccessTokenIssuer:     cfg.Issuer,
		TokenURL:              cfg.Issuer + access.PathToken,
		GlobalSecret:          cfg.HMACSecret,
		// PKCE is required of every client unless an administrator turned it off for a
		// confidential one; the authorization endpoint enforces that per client
		// before fosite runs, and fosite enforces it for public clients.
		EnforcePKCE:                    false,
		EnforcePKCEForPublicClients:    true,
		EnablePKCEPlainChallengeMethod: false,
		ScopeStrategy:                  fosite.ExactScopeStrategy,
		AudienceMatchingStrategy:       fosite.DefaultAudienceMatchingStrategy,
		ClientSecretsHasher:            secrets,
		SendDebugMessagesToClients:     false,
		MinParameterEntropy:            fosite.MinParameterEntropy,
		RefreshTokenScopes:             []string{"offline_access"},
		JWTScopeClaimKey:               jwt.JWTScopeFieldString,
		ClientAuthenticationStrategy:   nil,
	}
	opaque := compose.NewOAuth2HMACStrategy(fc)
	formats := &tokenFormats{opaque: opaque, clients: clients,
		jwt: &oauth2.DefaultJWTStrategy{Signer: signers.ES256, HMACSHAStrategy: opaque, Config: fc}}
	idTokens := &idTokenAlgs{clients: clients,
		es256: &openid.DefaultStrategy{Signer: signers.ES256, Config: fc},
		rs256: &openid.DefaultStrategy{Signer: signers.RS256, Config: fc}}
	strategy := &compose.CommonStrategy{
		CoreStrategy:               formats,
		OpenIDConnectTokenStrategy: idTokens,
		Signer:                     signers.ES256,
	}
	p := compose.Compose(fc, store, strategy,
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2ClientCredentialsGrantFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OpenIDConnectExplicitFactory,
		compose.OpenIDConnectRefreshFactory,
		compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2TokenRevocationFactory,
		compose.OAuth2PKCEFactory,
	)
	if f, ok := p.(*fosite.Fosite); ok {
		// fosite checks an assertion's audience against its token URLs only. A second
		// instance over the same store and settings, whose "token URL" is the issuer,
		// verifies assertions addressed to the issuer (draft-ietf-oauth-rfc7523bis).
		byIssuer := *fc
		byIssuer.TokenURL = cfg.Issuer
		issuerAuth := &fosite.Fosite{Store: f.Store, Config: &byIssuer}
		fc.ClientAuthenticationStrategy = store.ClientAuthentication(
			assertionAudience(cfg.Issuer, f.DefaultClientAuthenticationStrategy, issuerAuth.DefaultClientAuthenticationStrategy))
	}
	verifier, _ := secrets.(*SecretVerifier)
	return &Provider{OAuth2Provider: p, cfg: cfg, fosite: fc, store: store, tokens: formats, secrets: verifier}, nil
}

// Issuer returns the configured issuer.
func (p *Provider) Issuer() string { return p.cfg.Issuer }
