package fositestore

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"

	"github.com/weft-fabric/weft/access"
)

// Token endpoint authentication methods (RFC 8414 / OIDC Discovery names).
const (
	AuthMethodNone  = "none"
	AuthMethodBasic = "client_secret_basic"
	AuthMethodPost  = "client_secret_post"
)

// Client adapts an access.Client to fosite.
type Client struct {
	c          access.Client
	authMethod string
	now        time.Time // when it was loaded: the rotation overlap is judged then
}

var (
	_ fosite.Client                   = (*Client)(nil)
	_ fosite.ClientWithSecretRotation = (*Client)(nil)
	_ fosite.OpenIDConnectClient      = (*Client)(nil)
	_ fosite.ResponseModeClient       = (*Client)(nil)
)

// Domain returns the client definition behind the adapter, for Weft's own handlers.
func (c *Client) Domain() access.Client { return c.c }

// GetID implements fosite.Client.
func (c *Client) GetID() string { return c.c.ID }

// GetHashedSecret implements fosite.Client: the argon2id PHC string, for the hasher the
// provider configures (fosite.Config.ClientSecretsHasher). Empty for public clients.
func (c *Client) GetHashedSecret() []byte {
	if c.c.SecretHash == "" {
		return nil
	}
	return []byte(c.c.SecretHash)
}

// GetRotatedHashes implements fosite.ClientWithSecretRotation: the hash of the secret
// a rotation replaced, while its overlap lasts; nothing after, so the old secret is
// refused from then on (the verifier's cached verdict for it is never consulted again).
func (c *Client) GetRotatedHashes() [][]byte {
	if !c.c.PreviousSecretValid(c.now) {
		return nil
	}
	return [][]byte{[]byte(c.c.PreviousSecretHash)}
}

// GetRedirectURIs implements fosite.Client.
func (c *Client) GetRedirectURIs() []string { return slices.Clone(c.c.RedirectURIs) }

// GetGrantTypes implements fosite.Client. Unlike fosite.DefaultClient, an empty list
// means no grant, not authorization_code.
func (c *Client) GetGrantTypes() fosite.Arguments {
	return fosite.Arguments(slices.Clone(c.c.GrantTypes))
}

// GetResponseTypes implements fosite.Client: "code" for clients with the
// authorization_code grant, nothing otherwise (no implicit or hybrid flows).
func (c *Client) GetResponseTypes() fosite.Arguments {
	if slices.Contains(c.c.GrantTypes, access.GrantAuthorizationCode) {
		return fosite.Arguments{"code"}
	}
	return fosite.Arguments{}
}

// GetScopes implements fosite.Client: the client's scopes as registered. fosite matches
// "openid" (and "offline_access") like any other scope, so a client that may use OpenID
// Connect must list it.
func (c *Client) GetScopes() fosite.Arguments { return fosite.Arguments(slices.Clone(c.c.Scopes)) }

// IsPublic implements fosite.Client.
func (c *Client) IsPublic() bool { return c.c.Type == access.Public }

// GetAudience implements fosite.Client: none, so requests naming an audience fail.
func (c *Client) GetAudience() fosite.Arguments { return fosite.Arguments{} }

// GetRequestURIs implements fosite.OpenIDConnectClient: request_uri is not supported.
func (c *Client) GetRequestURIs() []string { return nil }

// GetJSONWebKeys implements fosite.OpenIDConnectClient. Clients register no keys, which
// also makes fosite refuse request objects and private_key_jwt for them.
func (c *Client) GetJSONWebKeys() *jose.JSONWebKeySet {
	if c.c.TokenEndpointAuthMethod != access.AuthPrivateKeyJWT || c.c.JWKS == "" {
		return nil
	}
	var set jose.JSONWebKeySet // fosite verifies assertions with go-jose v3
	if err := json.Unmarshal([]byte(c.c.JWKS), &set); err != nil {
		return nil // validated at registration; an unreadable set authenticates nobody
	}
	return &set
}

// GetJSONWebKeysURI implements fosite.OpenIDConnectClient.
func (c *Client) GetJSONWebKeysURI() string { return "" }

// GetRequestObjectSigningAlgorithm implements fosite.OpenIDConnectClient.
func (c *Client) GetRequestObjectSigningAlgorithm() string { return "" }

// GetTokenEndpointAuthSigningAlgorithm implements fosite.OpenIDConnectClient.
func (c *Client) GetTokenEndpointAuthSigningAlgorithm() string {
	if c.c.TokenEndpointAuthMethod != access.AuthPrivateKeyJWT {
		return ""
	}
	alg, _ := access.JWKSAlgorithm(c.c.JWKS)
	return alg
}

// GetTokenEndpointAuthMethod implements fosite.OpenIDConnectClient: "none" for public
// clients; for confidential ones the secret method the current request uses, as noted
// by ClientAuthentication, and client_secret_basic when nothing was noted. fosite
// rejects a request whose method differs from this value.
func (c *Client) GetTokenEndpointAuthMethod() string {
	if c.IsPublic() {
		return AuthMethodNone
	}
	if c.c.TokenEndpointAuthMethod == access.AuthPrivateKeyJWT {
		return access.AuthPrivateKeyJWT
	}
	if c.authMethod == AuthMethodPost {
		return AuthMethodPost
	}
	return AuthMethodBasic
}

// GetResponseModes implements fosite.ResponseModeClient: query and form_post for code
// clients.
func (c *Client) GetResponseModes() []fosite.ResponseModeType {
	if slices.Contains(c.c.GrantTypes, access.GrantAuthorizationCode) {
		return []fosite.ResponseModeType{fosite.ResponseModeQuery, fosite.ResponseModeFormPost}
	}
	return nil
}

// GetClient implements fosite.ClientManager. An unknown client is fosite.ErrNotFound,
// and so is a disabled one: fosite then refuses it as invalid_client wherever a client
// authenticates (token, introspection, revocation, private_key_jwt) or is named
// (authorization), and the tokens it holds, which load their client again, are
// inactive.
func (s *Store) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := s.clients.ClientByID(ctx, id)
	if err == nil && c.Disabled() {
		err = access.ErrClientDisabled
	}
	if err != nil {
		return nil, fmt.Errorf("load client %q: %w", id, translate(kClient, err))
	}
	m, _ := ctx.Value(authMethodKey{}).(string)
	return &Client{c: c, authMethod: m, now: s.now()}, nil
}

type authMethodKey struct{}

// ClientAuthentication wraps a fosite client authentication strategy, normally
// (*fosite.Fosite).DefaultClientAuthenticationStrategy, so that confidential clients
// may send their secret either way: with HTTP Basic (client_secret_basic) or in the
// form (client_secret_post). fosite enforces one method per client (the client's
// GetTokenEndpointAuthMethod), and Weft registers none, so the wrapper notes in the
// context which one this request uses and GetClient reports it. A request that sends
// both is still refused by fosite (RFC 6749 section 2.3: one method per request).
// Install it as fosite.Config.ClientAuthenticationStrategy. It is a method so that
// packages which cannot import this one (access) reach it through an interface.
func (s *Store) ClientAuthentication(next fosite.ClientAuthenticationStrategy) fosite.ClientAuthenticationStrategy {
	return func(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
		method := AuthMethodBasic
		if _, _, basic := r.BasicAuth(); !basic && form.Get("client_secret") != "" {
			method = AuthMethodPost
		}
		return next(context.WithValue(ctx, authMethodKey{}, method), r, form)
	}
}
