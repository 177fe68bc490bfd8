package access

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/weft-fabric/weft/identity"
	"github.com/weft-fabric/weft/identity/password"
)

// ClientType is the OAuth 2.0 client type (RFC 6749 section 2.1).
type ClientType string

const (
	// Confidential clients can keep a secret (server-side apps, machine clients).
	Confidential ClientType = "confidential"
	// Public clients cannot (SPAs, native apps): they authenticate with PKCE only.
	Public ClientType = "public"
)

// Grant types Weft issues. Implicit and resource-owner password are deliberately absent
// (RFC 9700 section 2.1.2 and 2.4).
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
)

// Access-token formats.
const (
	TokenFormatOpaque = "opaque"
	TokenFormatJWT    = "jwt"
)

var supportedGrants = []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials}

// Limits on a client definition.
const (
	MinClientSecretLen = 12
	maxClientIDLen     = 128
	maxClientNameLen   = 256
	maxRedirectURIs    = 32
	maxScopes          = 64
)

// ClientStatus says whether a client may authenticate.
type ClientStatus string

const (
	// ClientActive clients authenticate and get tokens.
	ClientActive ClientStatus = "active"
	// ClientDisabled clients are refused at every endpoint that authenticates a client
	// (token, introspection, revocation, private_key_jwt too) and their tokens are
	// inactive, until they are enabled again.
	ClientDisabled ClientStatus = "disabled"
)

// ParseClientStatus accepts active and disabled.
func ParseClientStatus(s string) (ClientStatus, error) {
	switch ClientStatus(s) {
	case ClientActive, ClientDisabled:
		return ClientStatus(s), nil
	}
	return "", invalid("status", "must be active or disabled")
}

// Secret rotation limits.
const (
	// MaxSecretOverlap caps how long a rotated-out secret keeps working: long enough to
	// roll a new secret out to every instance of a service, short enough that a leaked
	// secret an administrator rotates away does not stay useful for long.
	MaxSecretOverlap = 7 * 24 * time.Hour
	// generatedSecretBytes of randomness in a secret Weft generates (256 bits).
	generatedSecretBytes = 32
)

// ErrClientDisabled is returned when a disabled client is looked up for
// authentication; it is an identity.ErrNotFound, so that every path that needs the
// client (authentication, loading its tokens) refuses as for an unknown one.
var ErrClientDisabled = fmt.Errorf("the client is disabled: %w", identity.ErrNotFound)

// Client is an OAuth client definition. SecretHash is an argon2id PHC string; the
// secret itself is never stored.
type Client struct {
	ID           string
	Name         string
	Type         ClientType
	SecretHash   string
	RedirectURIs []string
	GrantTypes   []string
	Scopes       []string
	OwnerID      string // a user who answers for the client; optional
	// Introspection lets the client call token introspection (RFC 7662): gateways.
	Introspection bool
	// FirstParty clients skip the consent page: the organisation runs them.
	FirstParty bool
	// PostLogoutRedirectURIs are where RP-initiated logout may send the browser, by
	// exact string match.
	PostLogoutRedirectURIs []string
	// AccessTokenFormat is "opaque" (HMAC, the default) or "jwt" (RFC 9068, for
	// resource servers that validate tokens offline).
	AccessTokenFormat string
	// TokenEndpointAuthMethod is "" (client secret, basic or post) or "private_key_jwt"
	// (RFC 7523: a JWT signed with a key from JWKS, no secret at all).
	TokenEndpointAuthMethod string
	// JWKS is the client's public JWK Set (JSON) for private_key_jwt.
	JWKS string
	// IDTokenSigningAlg is ES256 (default) or RS256, for relying parties that cannot
	// verify ECDSA.
	IDTokenSigningAlg string
	// PKCERequired is true unless an administrator turned it off for a confidential
	// client that cannot send PKCE; public clients always need it.
	PKCERequired bool
	// MachineIdentityID binds a confidential client to a machine identity: its
	// client_credentials tokens carry the machine identity as subject.
	MachineIdentityID string
	// BackchannelLogoutURI receives OIDC Back-Channel Logout tokens when a session
	// the client took part in ends.
	BackchannelLogoutURI string
	// Status is ClientActive or ClientDisabled ("" reads as active).
	Status ClientStatus
	// PreviousSecretHash is the hash of the secret a rotation replaced, accepted until
	// PreviousSecretExpiresAt (the overlap the administrator asked for); empty when the
	// rotation had no overlap.
	PreviousSecretHash      string
	PreviousSecretExpiresAt time.Time
	CreatedAt               time.Time
	UpdatedAt               time.Time
}

// Disabled reports whether the client is disabled.
func (c Client) Disabled() bool { return c.Status == ClientDisabled }

// PreviousSecretValid reports whether the secret a rotation replaced still works at now.
func (c Client) PreviousSecretValid(now time.Time) bool {
	return c.PreviousSecretHash != "" && now.Before(c.PreviousSecretExpiresAt)
}

// ClientStore persists clients. Errors use the identity sentinels: ErrNotFound,
// ErrConflict (the id is taken), ErrNotFound for an unknown owner on write.
type ClientStore interface {
	CreateClient(ctx context.Context, c Client) error
	// UpdateClient replaces every mutable field of the client with c.ID.
	UpdateClient(ctx context.Context, c Client) error
	ClientByID(ctx context.Context, id string) (Client, error)
	// ListClients orders by id; the cursor is the last id of the page.
	ListClients(ctx context.Context, p identity.Page) ([]Client, string, error)
}

// ClientSpec is a client definition as an administrator writes it. Exactly one of
// Secret and SecretHash is set for confidential clients, neither for public ones.
type ClientSpec struct {
	ID           string
	Name         string
	Type         ClientType
	Secret       string
	SecretHash   string
	RedirectURIs []string
	GrantTypes   []string
	Scopes       []string
	OwnerID      string

	Introspection          bool
	FirstParty             bool
	PostLogoutRedirectURIs []string
	AccessTokenFormat      string // "" means opaque

	TokenEndpointAuthMethod string // "" or "private_key_jwt"
	JWKS                    string // public JWK Set as JSON, for private_key_jwt

	IDTokenSigningAlg string // "" means ES256
	PKCERequired      *bool  // nil means true
	MachineIdentityID string // optional; needs client_credentials

	BackchannelLogoutURI string

	// Status is "" (a new client is active; an existing one keeps its status, as a
	// fabric file that does not mention it expects), active or disabled.
	Status ClientStatus
}

// ClientObserver learns of client containment inside the transaction that makes it, so
// that what it does (revoking a disabled client's tokens, telling every node to drop
// what it cached about the client) commits or rolls back with the change. An error it
// returns undoes the change. The revocation service implements it.
type ClientObserver interface {
	// ClientStatusChanged is called after c's status moved from from to c.Status.
	ClientStatusChanged(ctx context.Context, c Client, from ClientStatus) error
	// ClientSecretRotated is called after c's secret was replaced by a rotation; c's
	// PreviousSecretHash and PreviousSecretExpiresAt say how long the old one works.
	ClientSecretRotated(ctx context.Context, c Client) error
}

// Clients is the client registry service.
type Clients struct {
	store     ClientStore
	users     identity.UserStore
	tx        identity.Transactor
	hasher    *password.Hasher
	now       func() time.Time
	observers []ClientObserver
	// pushURLs checks back-channel logout URIs beyond their syntax; nil checks the
	// syntax only (tests of unrelated behaviour). cmd/weft always sets it.
	pushURLs PushURLChecker
}

// CheckPushURLsWith makes Apply refuse back-channel logout URIs that chk refuses
// (access/outbound.Guard: hosts that resolve to internal addresses). It returns c.
func (c *Clients) CheckPushURLsWith(chk PushURLChecker) *Clients {
	c.pushURLs = chk
	return c
}

// NewClients builds the registry. users is used to check owners; observers hear of
// every status change and secret rotation, whichever path makes it (the admin API, the
// CLI, weft apply, the revocation API).
func NewClients(store ClientStore, users identity.UserStore, tx identity.Transactor, hasher *password.Hasher, observers ...ClientObserver) *Clients {
	return &Clients{store: store, users: users, tx: tx, hasher: hasher, observers: observers,
		now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
}

// SetClock replaces the clock that stamps changes and rotation overlaps (tests).
func (c *Clients) SetClock(now func() time.Time) { c.now = now }

func invalid(field, reason string) error {
	return &identity.ValidationError{Field: field, Reason: reason}
}

// Validate checks a spec on its own (no storage), returning a *identity.ValidationError.
func (s ClientSpec) Validate() error {
	if s.ID == "" || len(s.ID) > maxClientIDLen {
		return invalid("id", fmt.Sprintf("must be 1 to %d characters", maxClientIDLen))
	}
	for _, r := range s.ID {
		// RFC 6749 allows any VSCHAR; we keep ids URL- and log-safe.
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~", r)) {
			return invalid("id", "may contain only letters, digits and - . _ ~")
		}
	}
	if strings.TrimSpace(s.Name) == "" || utf8.RuneCountInString(s.Name) > maxClientNameLen || !utf8.ValidString(s.Name) {
		return invalid("name", fmt.Sprintf("is required, at most %d characters", maxClientNameLen))
	}
	if m := s.TokenEndpointAuthMethod; m != "" && m != AuthPrivateKeyJWT {
		return invalid("token_endpoint_auth_method", "must be private_key_jwt, or absent for a client secret")
	}
	switch s.Type {
	case Confidential:
		if s.TokenEndpointAuthMethod == AuthPrivateKeyJWT {
			if s.Secret != "" || s.SecretHash != "" {
				return invalid("secret", "a private_key_jwt client authenticates with its keys and has no secret")
			}
			break
		}
		if (s.Secret == "") == (s.SecretHash == "") {
			return invalid("secret", "a confidential client needs exactly one of secret and secret_hash")
		}
		if s.Secret != "" && (utf8.RuneCountInString(s.Secret) < MinClientSecretLen || len(s.Secret) > password.MaxLen) {
			return invalid("secret", fmt.Sprintf("must be at least %d characters", MinClientSecretLen))
		}
		if s.SecretHash != "" {
			if _, _, _, err := password.Decode(s.SecretHash); err != nil {
				return invalid("secret_hash", "must be an argon2id PHC string with sane parameters")
			}
		}
	case Public:
		if s.Secret != "" || s.SecretHash != "" {
			return invalid("secret", "a public client cannot have a secret")
		}
	default:
		return invalid("type", "must be confidential or public")
	}
	if len(s.GrantTypes) == 0 {
		return invalid("grant_types", "at least one grant type is required")
	}
	for _, g := range s.GrantTypes {
		if !slices.Contains(supportedGrants, g) {
			return invalid("grant_types", fmt.Sprintf("%q is not supported (supported: %s)", g, strings.Join(supportedGrants, ", ")))
		}
	}
	if dup := firstDuplicate(s.GrantTypes); dup != "" {
		return invalid("grant_types", fmt.Sprintf("%q is listed twice", dup))
	}
	has := func(g string) bool { return slices.Contains(s.GrantTypes, g) }
	if has(GrantClientCredentials) && s.Type == Public {
		return invalid("grant_types", "client_credentials needs a confidential client")
	}
	if has(GrantRefreshToken) && !has(GrantAuthorizationCode) {
		return invalid("grant_types", "refresh_token needs authorization_code")
	}
	if has(GrantAuthorizationCode) && len(s.RedirectURIs) == 0 {
		return invalid("redirect_uris", "authorization_code needs at least one redirect URI")
	}
	if !has(GrantAuthorizationCode) && len(s.RedirectURIs) > 0 {
		return invalid("redirect_uris", "only clients with authorization_code use redirect URIs")
	}
	if len(s.RedirectURIs) > maxRedirectURIs {
		return invalid("redirect_uris", fmt.Sprintf("at most %d", maxRedirectURIs))
	}
	for _, u := range s.RedirectURIs {
		if err := checkRedirectURI(u); err != nil {
			return invalid("redirect_uris", fmt.Sprintf("%q: %v", u, err))
		}
	}
	if dup := firstDuplicate(s.RedirectURIs); dup != "" {
		return invalid("redirect_uris", fmt.Sprintf("%q is listed twice", dup))
	}
	if len(s.PostLogoutRedirectURIs) > maxRedirectURIs {
		return invalid("post_logout_redirect_uris", fmt.Sprintf("at most %d", maxRedirectURIs))
	}
	for _, u := range s.PostLogoutRedirectURIs {
		if err := checkRedirectURI(u); err != nil {
			return invalid("post_logout_redirect_uris", fmt.Sprintf("%q: %v", u, err))
		}
	}
	switch s.TokenEndpointAuthMethod {
	case "":
		if s.JWKS != "" {
			return invalid("jwks", "only private_key_jwt clients register keys")
		}
	case AuthPrivateKeyJWT:
		if s.Type != Confidential {
			return invalid("token_endpoint_auth_method", "private_key_jwt needs a confidential client")
		}
		if _, err := JWKSAlgorithm(s.JWKS); err != nil {
			return invalid("jwks", err.Error())
		}
	default:
		return invalid("token_endpoint_auth_method", "must be private_key_jwt, or absent for a client secret")
	}
	switch s.IDTokenSigningAlg {
	case "", "ES256", "RS256":
	default:
		return invalid("id_token_signed_response_alg", "must be ES256 or RS256")
	}
	if s.BackchannelLogoutURI != "" {
		if err := checkRedirectURI(s.BackchannelLogoutURI); err != nil || !strings.HasPrefix(s.BackchannelLogoutURI, "http") {
			return invalid("backchannel_logout_uri", "must be an https URL (http only on loopback), without a fragment")
		}
	}
	if s.MachineIdentityID != "" && !slices.Contains(s.GrantTypes, GrantClientCredentials) {
		return invalid("machine_identity", "only a client_credentials client can act for a machine identity")
	}
	if s.Status != "" {
		if _, err := ParseClientStatus(string(s.Status)); err != nil {
			return err
		}
	}
	if s.PKCERequired != nil && !*s.PKCERequired && s.Type != Confidential {
		return invalid("pkce_required", "public clients always need PKCE")
	}
	switch s.AccessTokenFormat {
	case "", TokenFormatOpaque, TokenFormatJWT:
	default:
		return invalid("access_token_format", "must be opaque or jwt")
	}
	if s.Introspection && s.Type == Public {
		return invalid("introspection", "a public client cannot authenticate, so it cannot introspect")
	}
	if len(s.Scopes) > maxScopes {
		return invalid("scopes", fmt.Sprintf("at most %d", maxScopes))
	}
	for _, sc := range s.Scopes {
		if !validScopeToken(sc) {
			return invalid("scopes", fmt.Sprintf("%q is not a valid scope token (RFC 6749 section 3.3)", sc))
		}
	}
	if dup := firstDuplicate(s.Scopes); dup != "" {
		return invalid("scopes", fmt.Sprintf("%q is listed twice", dup))
	}
	return nil
}

// checkRedirectURI enforces RFC 9700 section 2.1 and RFC 8252: absolute, no fragment,
// https, or http only on loopback, or a private-use scheme (reverse domain name) for
// native apps. Matching at authorization time is exact string comparison.
func checkRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return errors.New("must be an absolute URI")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return errors.New("must not contain a fragment")
	}
	if u.User != nil {
		return errors.New("must not contain user information")
	}
	// Redirect URIs match exactly; a "*" would be matched literally, never as a
	// pattern, so an administrator who writes one is refused rather than misled.
	if strings.Contains(u.Host, "*") || strings.Contains(raw, "%2A") || strings.Contains(raw, "%2a") {
		return errors.New("must not contain a wildcard: redirect URIs are matched exactly, so register each one")
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" {
			return errors.New("needs a host")
		}
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return errors.New("http is allowed only for loopback hosts (127.0.0.1, [::1], localhost); use https")
		}
	case "javascript", "data", "file", "vbscript":
		return fmt.Errorf("scheme %q is not allowed", u.Scheme)
	default:
		if !strings.Contains(u.Scheme, ".") {
			return errors.New("custom schemes must be reverse domain names such as com.example.app")
		}
	}
	return nil
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func validScopeToken(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
			return false
		}
	}
	return true
}

func firstDuplicate(xs []string) string {
	seen := make(map[string]bool, len(xs))
	for _, x := range xs {
		if seen[x] {
			return x
		}
		seen[x] = true
	}
	return ""
}

// Apply creates the client or brings it in line with spec, reporting whether anything
// was written. A plaintext secret that already matches the stored hash is left alone, so
// applying the same definition twice changes nothing. Returns *identity.ValidationError
// (ErrInvalid) for a bad spec or an unknown owner.
func (c *Clients) Apply(ctx context.Context, spec ClientSpec) (created, changed bool, err error) {
	if err := spec.Validate(); err != nil {
		return false, false, err
	}
	// Before the transaction: it may resolve a host name.
	if spec.BackchannelLogoutURI != "" && c.pushURLs != nil {
		if err := c.pushURLs.CheckURL(ctx, spec.BackchannelLogoutURI); err != nil {
			return false, false, invalid("backchannel_logout_uri", err.Error())
		}
	}
	err = c.tx.InTx(ctx, func(ctx context.Context) error {
		if spec.OwnerID != "" {
			if _, err := c.users.UserByID(ctx, spec.OwnerID); errors.Is(err, identity.ErrNotFound) {
				return invalid("owner", "no such user")
			} else if err != nil {
				return err
			}
		}
		cur, err := c.store.ClientByID(ctx, spec.ID)
		exists := err == nil
		if err != nil && !errors.Is(err, identity.ErrNotFound) {
			return err
		}
		next := Client{ID: spec.ID, Name: spec.Name, Type: spec.Type, RedirectURIs: nonNil(spec.RedirectURIs),
			GrantTypes: nonNil(spec.GrantTypes), Scopes: nonNil(spec.Scopes), OwnerID: spec.OwnerID,
			Introspection: spec.Introspection, FirstParty: spec.FirstParty,
			PostLogoutRedirectURIs: nonNil(spec.PostLogoutRedirectURIs), AccessTokenFormat: spec.AccessTokenFormat,
			TokenEndpointAuthMethod: spec.TokenEndpointAuthMethod, JWKS: spec.JWKS,
			IDTokenSigningAlg: spec.IDTokenSigningAlg, PKCERequired: spec.PKCERequired == nil || *spec.PKCERequired,
			MachineIdentityID: spec.MachineIdentityID, BackchannelLogoutURI: spec.BackchannelLogoutURI}
		if next.IDTokenSigningAlg == "" {
			next.IDTokenSigningAlg = "ES256"
		}
		if next.AccessTokenFormat == "" {
			next.AccessTokenFormat = TokenFormatOpaque
		}
		switch {
		case spec.SecretHash != "":
			next.SecretHash = spec.SecretHash
		case spec.Secret != "":
			if exists && cur.SecretHash != "" && password.Verify(spec.Secret, cur.SecretHash) == nil {
				next.SecretHash = cur.SecretHash
			} else if next.SecretHash, err = c.hasher.Hash(spec.Secret); err != nil {
				return err
			}
		}
		// A rotation's overlap lasts while the secret it rotated to stays; a definition
		// that sets another secret ends it.
		if exists && next.SecretHash == cur.SecretHash {
			next.PreviousSecretHash, next.PreviousSecretExpiresAt = cur.PreviousSecretHash, cur.PreviousSecretExpiresAt
		}
		next.Status = spec.Status
		if next.Status == "" {
			next.Status = ClientActive
			if exists {
				next.Status = cur.clientStatus()
			}
		}
		now := c.now()
		if !exists {
			next.CreatedAt, next.UpdatedAt = now, now
			created, changed = true, true
			return machineRef(c.store.CreateClient(ctx, next), next)
		}
		next.CreatedAt, next.UpdatedAt = cur.CreatedAt, cur.UpdatedAt
		if sameClient(cur, next) {
			return nil
		}
		next.UpdatedAt, changed = now, true
		if err := machineRef(c.store.UpdateClient(ctx, next), next); err != nil {
			return err
		}
		if from := cur.clientStatus(); from != next.Status {
			return c.statusChanged(ctx, next, from)
		}
		return nil
	})
	return created, changed, err
}

func (c Client) clientStatus() ClientStatus {
	if c.Status == "" {
		return ClientActive
	}
	return c.Status
}

// statusChanged tells the observers, in ctx's transaction, with an identity.Change of
// its own that they share (the revocation a disable causes is named in it).
func (c *Clients) statusChanged(ctx context.Context, cl Client, from ClientStatus) error {
	ctx = freshChange(ctx)
	for _, o := range c.observers {
		if err := o.ClientStatusChanged(ctx, cl, from); err != nil {
			return err
		}
	}
	return nil
}

// freshChange returns ctx with an identity.Change for one change's observers to share,
// its Txn cleared (this change's own, not an earlier one's made with the same context).
func freshChange(ctx context.Context) context.Context {
	ch, ok := identity.ChangeFrom(ctx)
	if !ok {
		ch = &identity.Change{}
		ctx = identity.WithChange(ctx, ch)
	}
	ch.Txn = ""
	return ctx
}

// SetStatus disables or enables client id, reporting whether the status changed. The
// observers hear of a change in its transaction: disabling revokes every code and token
// of the client and makes every node forget what it cached about it, so the client is
// refused at once everywhere. ErrNotFound if absent; ErrInvalid for another status.
func (c *Clients) SetStatus(ctx context.Context, id string, st ClientStatus) (Client, bool, error) {
	if _, err := ParseClientStatus(string(st)); err != nil {
		return Client{}, false, err
	}
	var (
		out     Client
		changed bool
	)
	err := c.tx.InTx(ctx, func(ctx context.Context) error {
		cur, err := c.store.ClientByID(ctx, id)
		if err != nil {
			return err
		}
		out = cur
		from := cur.clientStatus()
		if from == st {
			return nil
		}
		cur.Status, cur.UpdatedAt = st, c.now()
		if err := c.store.UpdateClient(ctx, cur); err != nil {
			return err
		}
		out, changed = cur, true
		return c.statusChanged(ctx, cur, from)
	})
	return out, changed, err
}

// Rotation is the outcome of RotateSecret.
type Rotation struct {
	Client Client
	// Secret is the new secret: shown once, never stored (only its hash is).
	Secret string
}

// RotateSecret gives a confidential client a new secret that Weft generates (256 bits
// from crypto/rand). With overlap > 0 the old secret keeps working until now+overlap
// (at most MaxSecretOverlap), so the services that use it can switch without an
// outage; with overlap 0 it stops at once. A secret still inside an earlier rotation's
// overlap stops now: two rotations in a row leave one old secret, not two. The
// observers hear of the rotation in its transaction (every node drops the cached
// client). ErrNotFound if absent; ErrInvalid for a client without a secret or an
// overlap out of range, and then nothing changes.
func (c *Clients) RotateSecret(ctx context.Context, id string, overlap time.Duration) (Rotation, error) {
	if overlap < 0 || overlap > MaxSecretOverlap {
		return Rotation{}, invalid("overlap", fmt.Sprintf("must be between 0 and %s", MaxSecretOverlap))
	}
	b := make([]byte, generatedSecretBytes)
	_, _ = rand.Read(b) // never fails since Go 1.24
	secret := base64.RawURLEncoding.EncodeToString(b)
	var out Rotation
	err := c.tx.InTx(ctx, func(ctx context.Context) error {
		cur, err := c.store.ClientByID(ctx, id)
		if err != nil {
			return err
		}
		if cur.Type != Confidential || cur.SecretHash == "" {
			return invalid("secret", "only a confidential client that authenticates with a secret has one to rotate (private_key_jwt clients rotate their keys)")
		}
		hash, err := c.hasher.Hash(secret)
		if err != nil {
			return err
		}
		now := c.now()
		cur.PreviousSecretHash, cur.PreviousSecretExpiresAt = "", time.Time{}
		if overlap > 0 {
			cur.PreviousSecretHash, cur.PreviousSecretExpiresAt = cur.SecretHash, now.Add(overlap)
		}
		cur.SecretHash, cur.UpdatedAt = hash, now
		if err := c.store.UpdateClient(ctx, cur); err != nil {
			return err
		}
		out = Rotation{Client: cur, Secret: secret}
		ctx = freshChange(ctx)
		for _, o := range c.observers {
			if err := o.ClientSecretRotated(ctx, cur); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Rotation{}, err
	}
	return out, nil
}

// machineRef reports a write refused for a missing machine identity (the owner was
// checked before) as a validation error on that field.
func machineRef(err error, c Client) error {
	if c.MachineIdentityID != "" && errors.Is(err, identity.ErrNotFound) {
		return invalid("machine_identity", "no such machine identity")
	}
	return err
}

func nonNil(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return xs
}

func sameClient(a, b Client) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Type == b.Type && a.SecretHash == b.SecretHash &&
		slices.Equal(a.RedirectURIs, b.RedirectURIs) && slices.Equal(a.GrantTypes, b.GrantTypes) &&
		slices.Equal(a.Scopes, b.Scopes) && a.OwnerID == b.OwnerID && a.Introspection == b.Introspection &&
		a.FirstParty == b.FirstParty && slices.Equal(a.PostLogoutRedirectURIs, b.PostLogoutRedirectURIs) &&
		a.AccessTokenFormat == b.AccessTokenFormat && a.TokenEndpointAuthMethod == b.TokenEndpointAuthMethod && a.JWKS == b.JWKS &&
		a.IDTokenSigningAlg == b.IDTokenSigningAlg && a.PKCERequired == b.PKCERequired &&
		a.MachineIdentityID == b.MachineIdentityID && a.BackchannelLogoutURI == b.BackchannelLogoutURI &&
		a.clientStatus() == b.clientStatus() && a.PreviousSecretHash == b.PreviousSecretHash &&
		a.PreviousSecretExpiresAt.Equal(b.PreviousSecretExpiresAt)
}

// Client returns the client with id; ErrNotFound if absent.
func (c *Clients) Client(ctx context.Context, id string) (Client, error) {
	return c.store.ClientByID(ctx, id)
}

// List returns one page of clients.
func (c *Clients) List(ctx context.Context, p identity.Page) ([]Client, string, error) {
	return c.store.ListClients(ctx, p)
}

// PushURLChecker decides whether Weft may post to a URL someone registers (an SSF push
// endpoint, a back-channel logout URI) beyond its syntax: access/outbound.Guard checks
// where its host resolves. Errors say why, for the registrant.
type PushURLChecker interface {
	CheckURL(ctx context.Context, raw string) error
}

// CheckPushURL applies the rule for URLs Weft posts security tokens to (back-channel
// logout URIs, SSF push endpoints): absolute https, http only on loopback, no fragment
// or user information.
func CheckPushURL(raw string) error {
	if u, err := url.Parse(raw); err == nil && u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("must be an https URL (http only on loopback)")
	}
	if err := checkRedirectURI(raw); err != nil {
		return err
	}
	if !strings.HasPrefix(raw, "http") {
		return errors.New("must be an https URL (http only on loopback)")
	}
	return nil
}
