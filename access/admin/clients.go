package admin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/identity"
)

// clientView is a client as the API shows it: never its secret, never the hash.
type clientView struct {
	ID                     string   `json:"id"`
	Name                   string   `json:"name"`
	Type                   string   `json:"type"`
	RedirectURIs           []string `json:"redirect_uris"`
	GrantTypes             []string `json:"grant_types"`
	Scopes                 []string `json:"scopes"`
	OwnerID                string   `json:"owner_id"`
	Introspection          bool     `json:"introspection"`
	FirstParty             bool     `json:"first_party"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	AccessTokenFormat      string   `json:"access_token_format"`
	// TokenEndpointAuthMethod is empty for a client secret (basic or post) and
	// private_key_jwt for a client that signs assertions with the keys in JWKS.
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method"`
	JWKS                    json.RawMessage `json:"jwks"` // public keys only; null when none
	IDTokenSigningAlg       string          `json:"id_token_signed_response_alg"`
	PKCERequired            bool            `json:"pkce_required"`
	MachineIdentityID       string          `json:"machine_identity_id"`
	// Status is active or disabled.
	Status string `json:"status"`
	// PreviousSecretExpiresAt is when the secret a rotation replaced stops working;
	// null when no old secret works.
	PreviousSecretExpiresAt *time.Time `json:"rotation_overlap_until"`
	CreatedAt               time.Time  `json:"created_at"`
	UpdatedAt               time.Time  `json:"updated_at"`
}

func viewClient(c access.Client) clientView {
	v := clientView{ID: c.ID, Name: c.Name, Type: string(c.Type), RedirectURIs: nonNil(c.RedirectURIs),
		GrantTypes: nonNil(c.GrantTypes), Scopes: nonNil(c.Scopes), OwnerID: c.OwnerID, Introspection: c.Introspection,
		FirstParty: c.FirstParty, PostLogoutRedirectURIs: nonNil(c.PostLogoutRedirectURIs), AccessTokenFormat: c.AccessTokenFormat,
		TokenEndpointAuthMethod: c.TokenEndpointAuthMethod, IDTokenSigningAlg: c.IDTokenSigningAlg, PKCERequired: c.PKCERequired,
		MachineIdentityID: c.MachineIdentityID, CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC()}
	v.Status = string(access.ClientActive)
	if c.Disabled() {
		v.Status = string(access.ClientDisabled)
	}
	if c.PreviousSecretHash != "" {
		at := c.PreviousSecretExpiresAt.UTC()
		v.PreviousSecretExpiresAt = &at
	}
	if c.JWKS != "" {
		v.JWKS = json.RawMessage(c.JWKS) // validated as a JWK Set when it was stored
	}
	return v
}

func nonNil(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return xs
}

// createdClientView is the answer to POST /clients: the only time the secret is shown.
type createdClientView struct {
	clientView
	ClientSecret string `json:"client_secret,omitempty"`
}

type createClientRequest struct {
	ID                     string   `json:"id"`
	Name                   string   `json:"name"`
	Type                   string   `json:"type"`
	RedirectURIs           []string `json:"redirect_uris"`
	GrantTypes             []string `json:"grant_types"`
	Scopes                 []string `json:"scopes"`
	OwnerID                string   `json:"owner_id"`
	Introspection          bool     `json:"introspection"`
	FirstParty             bool     `json:"first_party"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	AccessTokenFormat      string   `json:"access_token_format"` // opaque (default) or jwt
	// TokenEndpointAuthMethod private_key_jwt (RFC 7523) registers public keys instead
	// of a secret; JWKS is then the JWK Set as a JSON object.
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method"`
	JWKS                    json.RawMessage `json:"jwks"`
	IDTokenSigningAlg       string          `json:"id_token_signed_response_alg"` // ES256 (default) or RS256
	PKCERequired            *bool           `json:"pkce_required"`                // absent means true
	MachineIdentityID       string          `json:"machine_identity_id"`

	// Declared only to refuse them with a clear message: Weft makes the secret.
	Secret     json.RawMessage `json:"secret"`
	SecretHash json.RawMessage `json:"secret_hash"`
}

// secretBytes of randomness in a generated client secret (256 bits).
const secretBytes = 32

// listClients: GET /clients?limit=&after=.
func (h *Handler) listClients(c echo.Context) error {
	page, err := pageFrom(c)
	if err != nil {
		return err
	}
	clients, next, err := h.Clients.List(c.Request().Context(), page)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, listOf(clients, viewClient, next))
}

// getClient: GET /clients/{id}.
func (h *Handler) getClient(c echo.Context) error {
	cl, err := h.Clients.Client(c.Request().Context(), c.Param("id"))
	if err != nil {
		return missing(err, "client")
	}
	return c.JSON(http.StatusOK, viewClient(cl))
}

// createClient: POST /clients. For a confidential client that authenticates with a
// secret (not private_key_jwt) Weft generates the secret,
// stores only its argon2id hash, and returns the secret in this response alone: an
// administrator never picks a weak one, and no later read can leak it.
func (h *Handler) createClient(c echo.Context) error {
	var in createClientRequest
	if err := decode(c, &in); err != nil {
		return err
	}
	if in.Secret != nil {
		return invalid("secret", "is generated by Weft and returned once in the response; do not send one")
	}
	if in.SecretHash != nil {
		return invalid("secret_hash", "is not accepted here; Weft generates the secret (use weft apply to import a hash)")
	}
	spec := access.ClientSpec{ID: in.ID, Name: in.Name, Type: access.ClientType(in.Type), RedirectURIs: in.RedirectURIs,
		GrantTypes: in.GrantTypes, Scopes: in.Scopes, OwnerID: in.OwnerID, Introspection: in.Introspection,
		FirstParty: in.FirstParty, PostLogoutRedirectURIs: in.PostLogoutRedirectURIs, AccessTokenFormat: in.AccessTokenFormat,
		TokenEndpointAuthMethod: in.TokenEndpointAuthMethod, IDTokenSigningAlg: in.IDTokenSigningAlg,
		PKCERequired: in.PKCERequired, MachineIdentityID: in.MachineIdentityID}
	if len(in.JWKS) > 0 && string(in.JWKS) != "null" {
		spec.JWKS = string(in.JWKS)
	}
	if spec.Type == access.Confidential && spec.TokenEndpointAuthMethod != access.AuthPrivateKeyJWT {
		b := make([]byte, secretBytes)
		_, _ = rand.Read(b) // never fails since Go 1.24
		spec.Secret = base64.RawURLEncoding.EncodeToString(b)
	}
	ctx := c.Request().Context()
	// Apply creates or updates; this endpoint only creates. Checking first answers the
	// common case before any hashing; the check inside the transaction catches a
	// concurrent creation, whose update is then rolled back.
	if _, err := h.Clients.Client(ctx, spec.ID); err == nil {
		return clientExists(spec.ID)
	} else if !errors.Is(err, identity.ErrNotFound) {
		return err
	}
	err := h.Directory.InTx(ctx, func(ctx context.Context) error {
		isNew, _, err := h.Clients.Apply(ctx, spec)
		if err == nil && !isNew {
			return clientExists(spec.ID)
		}
		return err
	})
	if err != nil {
		return renameField(renameField(err, "owner", "owner_id"), "machine_identity", "machine_identity_id")
	}
	cl, err := h.Clients.Client(ctx, spec.ID)
	if err != nil {
		return err
	}
	return created(c, "/clients", cl.ID, createdClientView{clientView: viewClient(cl), ClientSecret: spec.Secret})
}

func clientExists(id string) error {
	return fmt.Errorf("a client with id %q already exists: %w", id, identity.ErrConflict)
}
