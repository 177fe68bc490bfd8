// Package sqlstore implements the access stores over the shared gorm database of
// identity/sqlstore: OAuth clients and consents (access), the revocation store and its
// durable log (revocation), the outbox (outbox) and SSF streams and their poll queue
// (ssf). Rows stay inside this package; storetest/ is the conformance suite every
// implementation of those interfaces passes, run here on SQLite and PostgreSQL.
package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/weft-fabric/weft/access"
	"github.com/weft-fabric/weft/identity"
	idsql "github.com/weft-fabric/weft/identity/sqlstore"
)

// Clients implements access.ClientStore.
type Clients struct {
	db *idsql.DB
}

var _ access.ClientStore = (*Clients)(nil)

// NewClients returns the client store over db.
func NewClients(db *idsql.DB) *Clients { return &Clients{db: db} }

type clientRow struct {
	ID                       string `gorm:"primaryKey"`
	Name                     string
	ClientType               string
	SecretHash               *string
	RedirectURIs             string `gorm:"column:redirect_uris"`
	GrantTypes               string
	Scopes                   string
	OwnerID                  *string
	Introspection            bool
	FirstParty               bool
	PostLogoutRedirectURIs   string `gorm:"column:post_logout_redirect_uris"`
	AccessTokenFormat        string
	TokenEndpointAuthMethod  string
	JWKS                     string `gorm:"column:jwks"`
	IDTokenSignedResponseAlg string `gorm:"column:id_token_signed_response_alg"`
	PKCERequired             bool   `gorm:"column:pkce_required"`
	MachineIdentityID        *string
	BackchannelLogoutURI     string
	Status                   string
	PreviousSecretHash       *string
	PreviousSecretExpiresAt  *time.Time
	CreatedAt                time.Time
	UpdatedAt                time.Time
}

func (clientRow) TableName() string { return "oauth_clients" }

func toClientRow(c access.Client) (clientRow, error) {
	r := clientRow{ID: c.ID, Name: c.Name, ClientType: string(c.Type), Introspection: c.Introspection, FirstParty: c.FirstParty,
		AccessTokenFormat: c.AccessTokenFormat, TokenEndpointAuthMethod: c.TokenEndpointAuthMethod, JWKS: c.JWKS,
		IDTokenSignedResponseAlg: c.IDTokenSigningAlg, PKCERequired: c.PKCERequired, CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC()}
	if r.AccessTokenFormat == "" {
		r.AccessTokenFormat = access.TokenFormatOpaque
	}
	if r.IDTokenSignedResponseAlg == "" {
		r.IDTokenSignedResponseAlg = "ES256"
	}
	if c.SecretHash != "" {
		h := c.SecretHash
		r.SecretHash = &h
	}
	if c.OwnerID != "" {
		o := c.OwnerID
		r.OwnerID = &o
	}
	r.BackchannelLogoutURI = c.BackchannelLogoutURI
	r.Status = string(c.Status)
	if r.Status == "" {
		r.Status = string(access.ClientActive)
	}
	if c.PreviousSecretHash != "" {
		h, at := c.PreviousSecretHash, c.PreviousSecretExpiresAt.UTC()
		r.PreviousSecretHash, r.PreviousSecretExpiresAt = &h, &at
	}
	if c.MachineIdentityID != "" {
		m := c.MachineIdentityID
		r.MachineIdentityID = &m
	}
	for _, f := range []struct {
		dst *string
		src []string
	}{{&r.RedirectURIs, c.RedirectURIs}, {&r.GrantTypes, c.GrantTypes}, {&r.Scopes, c.Scopes},
		{&r.PostLogoutRedirectURIs, c.PostLogoutRedirectURIs}} {
		if f.src == nil {
			f.src = []string{}
		}
		b, err := json.Marshal(f.src)
		if err != nil {
			return r, err
		}
		*f.dst = string(b)
	}
	return r, nil
}

func (r clientRow) client() (access.Client, error) {
	c := access.Client{ID: r.ID, Name: r.Name, Type: access.ClientType(r.ClientType), Introspection: r.Introspection,
		FirstParty: r.FirstParty, AccessTokenFormat: r.AccessTokenFormat,
		TokenEndpointAuthMethod: r.TokenEndpointAuthMethod, JWKS: r.JWKS,
		IDTokenSigningAlg: r.IDTokenSignedResponseAlg, PKCERequired: r.PKCERequired, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
	if r.SecretHash != nil {
		c.SecretHash = *r.SecretHash
	}
	if r.OwnerID != nil {
		c.OwnerID = *r.OwnerID
	}
	if r.MachineIdentityID != nil {
		c.MachineIdentityID = *r.MachineIdentityID
	}
	c.BackchannelLogoutURI = r.BackchannelLogoutURI
	c.Status = access.ClientStatus(r.Status)
	if r.PreviousSecretHash != nil && r.PreviousSecretExpiresAt != nil {
		c.PreviousSecretHash, c.PreviousSecretExpiresAt = *r.PreviousSecretHash, r.PreviousSecretExpiresAt.UTC()
	}
	for _, f := range []struct {
		src string
		dst *[]string
	}{{r.RedirectURIs, &c.RedirectURIs}, {r.GrantTypes, &c.GrantTypes}, {r.Scopes, &c.Scopes},
		{r.PostLogoutRedirectURIs, &c.PostLogoutRedirectURIs}} {
		if err := json.Unmarshal([]byte(f.src), f.dst); err != nil {
			return c, fmt.Errorf("client %q: corrupt list column: %w", r.ID, err)
		}
	}
	return c, nil
}

// CreateClient implements access.ClientStore.
func (s *Clients) CreateClient(ctx context.Context, c access.Client) error {
	r, err := toClientRow(c)
	if err != nil {
		return err
	}
	return idsql.TranslateError(s.db.Conn(ctx).Create(&r).Error)
}

// UpdateClient implements access.ClientStore.
func (s *Clients) UpdateClient(ctx context.Context, c access.Client) error {
	r, err := toClientRow(c)
	if err != nil {
		return err
	}
	res := s.db.Conn(ctx).Model(&clientRow{}).Where("id = ?", c.ID).Updates(map[string]any{
		"name": r.Name, "client_type": r.ClientType, "secret_hash": r.SecretHash, "redirect_uris": r.RedirectURIs,
		"grant_types": r.GrantTypes, "scopes": r.Scopes, "owner_id": r.OwnerID, "updated_at": r.UpdatedAt,
		"introspection": r.Introspection, "first_party": r.FirstParty, "post_logout_redirect_uris": r.PostLogoutRedirectURIs,
		"access_token_format": r.AccessTokenFormat, "token_endpoint_auth_method": r.TokenEndpointAuthMethod, "jwks": r.JWKS,
		"id_token_signed_response_alg": r.IDTokenSignedResponseAlg, "pkce_required": r.PKCERequired,
		"machine_identity_id": r.MachineIdentityID, "backchannel_logout_uri": r.BackchannelLogoutURI,
		"status": r.Status, "previous_secret_hash": r.PreviousSecretHash, "previous_secret_expires_at": r.PreviousSecretExpiresAt,
	})
	if res.Error != nil {
		return idsql.TranslateError(res.Error)
	}
	if res.RowsAffected == 0 {
		return identity.ErrNotFound
	}
	return nil
}

// ClientByID implements access.ClientStore.
func (s *Clients) ClientByID(ctx context.Context, id string) (access.Client, error) {
	var r clientRow
	if err := s.db.Conn(ctx).Where("id = ?", id).Take(&r).Error; err != nil {
		return access.Client{}, idsql.TranslateError(err)
	}
	return r.client()
}

// ListClients implements access.ClientStore.
func (s *Clients) ListClients(ctx context.Context, p identity.Page) ([]access.Client, string, error) {
	rows, next, err := idsql.Paginate(s.db.Conn(ctx), "id", p, func(r clientRow) string { return r.ID })
	if err != nil {
		return nil, "", err
	}
	out := make([]access.Client, 0, len(rows))
	for _, r := range rows {
		c, err := r.client()
		if err != nil {
			return nil, "", err
		}
		out = append(out, c)
	}
	return out, next, nil
}
